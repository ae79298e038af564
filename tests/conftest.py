"""Session-wide fixtures: the slow real stacks, started once and shared (tests/stacks.py).

- `demo`: `netmon demo` + Prometheus (scaled rules) + Alertmanager + a fake Telegram,
  for tests/test_e2e_demo.py and tests/test_alerts_e2e.py;
- `lab`: one small lab, five simulated devices (tests/stacks.py `SMALL_LAB_INVENTORY`),
  for test_lab, test_production and test_daemon_influx (each fault test undoes its
  fault);
- `history`: one Prometheus backfilled with the synthetic NOC and the report's known
  traffic, for test_grafana and test_report.

Each is started by the first test that asks for it, so running one module alone (or
`-k`) starts only what it needs, and stopped at the end of the session, also after a
failure.
"""

from __future__ import annotations

import contextlib
import os
from collections import Counter
from collections.abc import Iterator
from typing import TypeVar

import pytest
from stacks import DemoStack, History, demo_stack, history_prometheus, small_lab

from netmon.lab import Lab

T = TypeVar("T")

# Every `python -m netmon` a test starts (a few hundred) would compile netmon again where
# PYTHONDONTWRITEBYTECODE is set (this machine's environment sets it): ~0.2 s of CPU each.
# The tests' subprocesses may write bytecode (__pycache__/ is ignored by git).
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


# Each stack's context, closed by the last test that uses it (`pytest_runtest_teardown`)
# or at the end of the session: the demo alone keeps about half a core busy, which the
# rest of the suite needs once the demo's tests are done.
_open: dict[str, contextlib.ExitStack] = {}
_last_user: dict[int, str] = {}  # id(item) → the stack that item is the last user of


def _shared(name: str, stack: contextlib.AbstractContextManager[T]) -> Iterator[T]:
    with contextlib.ExitStack() as exits:
        _open[name] = exits
        yield exits.enter_context(stack)
    _open.pop(name, None)


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoStack]:
    yield from _shared("demo", demo_stack(tmp_path_factory.mktemp("demo")))


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    yield from _shared("lab", small_lab(tmp_path_factory.mktemp("small-lab")))


@pytest.fixture(scope="session")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[History]:
    yield from _shared("history", history_prometheus(tmp_path_factory.mktemp("history")))


# With pytest-xdist (`scripts/test.sh` runs two workers): the tests of a shared stack run
# on one worker, so each stack starts once; every other module stays whole on one worker
# (its module-scoped fixtures start once too).
_STACKS = ("demo", "lab", "history")  # longest first


def _uses_shared_stack(item: pytest.Item, name: str) -> bool:
    """Whether the test really gets the session stack `name` defined here, directly or
    through a fixture of the same name that asks for it (test_wall's `demo`). A module
    with a fixture of its own by that name (test_snmp_snmpd's and test_ssh_lab's `lab`)
    does not: grouping it with the stack only made that one worker's queue longer."""
    info = getattr(item, "_fixtureinfo", None)
    defs = list(info.name2fixturedefs.get(name, ())) if info is not None else []
    while defs:
        fixturedef = defs.pop()  # the one that applies; the ones before it it overrides
        if getattr(fixturedef.func, "__module__", None) == __name__:  # this conftest's
            return True
        if name not in fixturedef.argnames:
            return False
    return False


def pytest_configure(config: pytest.Config) -> None:
    # xdist would sort the groups by their number of tests again: keep the order below
    # (an explicit --loadscope-reorder on the command line still wins)
    if (hasattr(config.option, "loadscopereorder")
            and "--loadscope-reorder" not in config.invocation_params.args):
        config.option.loadscopereorder = False


@pytest.hookimpl(tryfirst=True)  # before xdist's, which reads the marks into the node ids
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Group the tests (above), then order the groups as xdist hands them out: the
    shared stacks first, longest first, then the other modules, most tests first
    (xdist's own order; `pytest_configure` stops xdist from re-sorting).

    Each stack's group is the longest unit of work in the suite and runs on one worker;
    counted by tests, the demo's came twelfth, so it started late and ran on alone at
    the end while the other worker had nothing left to do."""
    group: dict[str, str] = {}
    for item in items:
        stack = next((name for name in _STACKS if name in getattr(item, "fixturenames", ())
                      and _uses_shared_stack(item, name)), None)
        group[item.nodeid] = stack or item.nodeid.split("::")[0]
        item.add_marker(pytest.mark.xdist_group(group[item.nodeid]))
    size = Counter(group.values())

    def rank(item: pytest.Item) -> tuple[int, int]:
        name = group[item.nodeid]
        return (_STACKS.index(name), 0) if name in _STACKS else (len(_STACKS), -size[name])

    items.sort(key=rank)  # stable: a group's tests keep their order


def pytest_collection_finish(session: pytest.Session) -> None:
    """Find each stack's last user in the final order (after -k and the sort above). The
    order is the same in every xdist worker, and a stack's tests are one group on one
    worker, so once its last user is done no test of this session needs it again."""
    last = {name: id(item) for item in session.items for name in _STACKS
            if name in getattr(item, "fixturenames", ()) and _uses_shared_stack(item, name)}
    _last_user.clear()
    _last_user.update({item_id: name for name, item_id in last.items()})


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Iterator[None]:
    yield
    name = _last_user.get(id(item))
    if name is not None and name in _open:
        _open.pop(name).close()


@pytest.fixture(scope="session", autouse=True)
def _net_snmp_client_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """net-snmp's command-line tools (snmpget, snmptrap: real peers in tests) keep their
    own engine ID and boots in /var/lib/snmp/snmpapp.conf and rewrite it on every run;
    tools run side by side (two xdist workers, two sessions) left it unreadable ("buffer
    too small to read octet string (17 < 17)"), after which every SNMPv3 request of
    theirs timed out. Each session (each worker) gets a state folder of its own."""
    before = os.environ.get("SNMP_PERSISTENT_DIR")
    os.environ["SNMP_PERSISTENT_DIR"] = str(tmp_path_factory.mktemp("net-snmp-client"))
    yield
    if before is None:
        os.environ.pop("SNMP_PERSISTENT_DIR", None)
    else:
        os.environ["SNMP_PERSISTENT_DIR"] = before
