"""End-to-end alert timings as on-call lives them, with the shipped settings.

`netmon demo --interval 60s` (traps on) → Prometheus scraping and evaluating every
15 s with alerts/netmon.rules.yml as shipped (unscaled) → Alertmanager with the shipped
alertmanager.yml and its own group_wait/group_interval (receivers pointed at a fake
Telegram and SMTP server on loopback) → the messages on-call's phone would show.
The stack is tests/stacks.py's `demo_stack`, the one the end-to-end tests use with
5 s polls.

Prints, per incident, the figure measured next to issue 18's target and their ratio
(figure ÷ target; ≤ 1 meets it), plus what each message said: fibre cut with and
without a linkDown trap, repair, a second separate cut, the core router failing, a 5 s
flap, a 28-link storm. Measures; asserts nothing (the tests assert behaviour with 5 s
polls). Takes about 20 minutes; run it on an otherwise idle machine:

    python3 bench/alert_timings.py [--only cut-trap,flap]
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from alerting import NOC_CHAT, ONCALL_CHAT
from servers import http_get, wait_for
from stacks import DEMO_INVENTORY, DemoStack, demo_stack, message_title

from netmon.lab import apply_fault

INTERVAL_S = 60
ROWS: list[tuple[str, str, float | None, float | None, str]] = []
KEC_LINKS = sorted((link.name, DEMO_INVENTORY.link_kecamatan(link))
                   for link in DEMO_INVENTORY.links if link.name.startswith("fo-kec-"))


def record(incident: str, what: str, seconds: float | None, target: float | None,
           note: str = "") -> None:
    ROWS.append((incident, what, seconds, target, note))
    shown = "—" if seconds is None else f"{seconds:.1f} s"
    ratio = "" if seconds is None or not target else f"  ({seconds / target:.2f} of target)"
    print(f"  {incident}: {what}: {shown}"
          f"{'' if target is None else f' (target ≤ {target:.0f} s)'}{ratio} {note}",
          flush=True)


def messages(stack: DemoStack, chat: int, since: int) -> list[dict]:
    return stack.telegram.received(chat)[since:]


def wait_message(stack: DemoStack, since: int, match: Callable[[str], bool],
                 timeout: float) -> tuple[float, str] | None:
    """(wall time it arrived, text) of the first on-call message from index `since`
    that `match`es, or None after `timeout`."""
    def found() -> tuple[float, str] | None:
        for m in messages(stack, ONCALL_CHAT, since):
            if match(m["text"]):
                return m["time"], m["text"]
        return None

    try:
        return wait_for(found, timeout, "a message", 0.2)
    except AssertionError:  # timed out
        return None


def is_(status: str, alertname: str, what: str) -> Callable[[str], bool]:
    def match(text: str) -> bool:
        t = message_title(text)
        return t is not None and t[0] == status and t[1] == alertname and what in text
    return match


def state_changes(stack: DemoStack, link: str) -> float:
    m = re.search(rf'^netmon_link_state_changes_total\{{[^}}]*link="{re.escape(link)}"'
                  r"[^}]*\} (\S+)$", http_get(stack.metrics_url), re.M)
    return float(m.group(1)) if m else 0.0


def fault(stack: DemoStack, kind: str, target: str, *, traps: bool = True) -> float:
    t0 = time.time()
    apply_fault(stack.labdir, kind, target, send_traps=traps)
    return t0


def cut_and_repair(stack: DemoStack, name: str, link: str, kecamatan: str, *,
                   trap_cut: bool, trap_repair: bool) -> None:
    stack.settle(timeout=600)
    since = len(stack.oncall())
    t0 = fault(stack, "link-down", link, traps=trap_cut)
    got = wait_message(stack, since, is_("PAGE", "LinkDown", f"link {link} DOWN"), 300)
    record(name, "fault → page", None if got is None else got[0] - t0,
           60 if trap_cut else INTERVAL_S + 45)
    if got is not None:
        print(f"    page: {got[1].splitlines()[2][:140]!r}")
    since = len(stack.oncall())
    t1 = fault(stack, "link-up", link, traps=trap_repair)
    got = wait_message(stack, since, is_("RESOLVED", "LinkDown", f"link {link} DOWN"), 300)
    record(name, f"repair ({'linkUp trap' if trap_repair else 'no trap'}) → resolved",
           None if got is None else got[0] - t1, 60 if trap_repair else INTERVAL_S + 45)


def second_cut(stack: DemoStack) -> None:
    (first, _), (second, kec2) = KEC_LINKS[2], KEC_LINKS[3]
    stack.settle(timeout=600)
    since = len(stack.oncall())
    t0 = fault(stack, "link-down", first)
    got1 = wait_message(stack, since, is_("PAGE", "LinkDown", f"link {first} DOWN"), 300)
    record("second cut", f"first cut ({first}) → page",
           None if got1 is None else got1[0] - t0, 60)
    since2 = len(stack.oncall())
    t1 = fault(stack, "link-down", second)
    got2 = wait_message(stack, since2, is_("PAGE", "LinkDown", f"link {second} DOWN"), 300)
    stale = "" if got2 is None else (
        "stale: names the first cut" if first in got2[1] or "Resolved" in got2[1]
        else "own page, nothing of the first cut")
    record("second cut", f"second cut ({second}, {kec2}) → its own page",
           None if got2 is None else got2[0] - t1, 60, stale)
    for link in (first, second):
        fault(stack, "link-up", link)
    wait_message(stack, since2, is_("RESOLVED", "LinkDown", second), 300)


def core_failure(stack: DemoStack) -> None:
    stack.settle(timeout=600)
    since = len(stack.oncall())
    t0 = fault(stack, "unreachable", "core-pemkab-1")
    got = wait_message(stack, since, is_("PAGE", "DeviceDown", "core-pemkab-1"), 300)
    record("core unreachable", "fault → page", None if got is None else got[0] - t0,
           INTERVAL_S + 45)  # a dead router sends no trap: found by its poll
    time.sleep(180)  # three poll intervals of outage: nothing else, nothing "resolved"
    during = [m["text"].splitlines()[0] for m in messages(stack, ONCALL_CHAT, since)]
    record("core unreachable", "on-call messages in 3 min of outage", None, None,
           f"{len(during)}: {during}")
    since = len(stack.oncall())
    t1 = fault(stack, "reachable", "core-pemkab-1")
    got = wait_message(stack, since, is_("RESOLVED", "DeviceDown", "core-pemkab-1"), 300)
    record("core unreachable", "repair → resolved", None if got is None else got[0] - t1,
           INTERVAL_S + 45)
    time.sleep(120)
    after = [m["text"].splitlines()[0] for m in messages(stack, ONCALL_CHAT, since)]
    record("core unreachable", "on-call messages in 2 min after the repair", None, None,
           f"{len(after)}: {after}")


def flap(stack: DemoStack) -> None:
    link = KEC_LINKS[4][0]
    stack.settle(timeout=600)
    since = len(stack.oncall())
    before = state_changes(stack, link)
    fault(stack, "link-down", link)
    time.sleep(5)
    fault(stack, "link-up", link)
    time.sleep(150)
    pages = [m["text"].splitlines()[0] for m in messages(stack, ONCALL_CHAT, since)
             if link in m["text"]]
    record("5 s flap", "pages in 150 s", None, None, f"{len(pages)} {pages}")
    record("5 s flap", "counted in netmon_link_state_changes_total", None, None,
           f"+{state_changes(stack, link) - before:.0f}")


def storm(stack: DemoStack) -> None:
    stack.settle(timeout=600)
    since = len(stack.oncall())
    noc_since = len(stack.telegram.received(NOC_CHAT))
    t0 = time.time()
    for link, _ in KEC_LINKS:
        apply_fault(stack.labdir, "link-down", link)
    spread = time.time() - t0
    got = wait_message(stack, since, is_("PAGE", "LinkDownStorm", "core-pemkab-1"), 300)
    record(f"{len(KEC_LINKS)}-link storm ({spread:.1f} s to cut)", "first cut → page",
           None if got is None else got[0] - t0, 60)
    time.sleep(90)
    oncall = messages(stack, ONCALL_CHAT, since)
    noc = stack.telegram.received(NOC_CHAT)[noc_since:]
    named = 0 if got is None else sum(f"{kec} {link}" in got[1] for link, kec in KEC_LINKS)
    record("storm", "messages per chat within 90 s of the page", None, None,
           f"on-call {len(oncall)}, NOC {len([m for m in noc if 'LinkDown' in m['text']])}; "
           f"longest {max((len(m['text']) for m in oncall), default=0)} characters; "
           f"{named} of {len(KEC_LINKS)} kecamatan named")
    for link, _ in KEC_LINKS:
        apply_fault(stack.labdir, "link-up", link)


SCENARIOS: dict[str, Callable[[DemoStack], None]] = {
    "cut-trap": lambda s: cut_and_repair(s, "fibre cut with linkDown trap", *KEC_LINKS[0],
                                         trap_cut=True, trap_repair=True),
    "cut-poll": lambda s: cut_and_repair(s, "fibre cut without trap", *KEC_LINKS[1],
                                         trap_cut=False, trap_repair=False),
    "second-cut": second_cut,
    "core": core_failure,
    "flap": flap,
    "storm": storm,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=",".join(SCENARIOS),
                        help="comma-separated scenarios: " + ", ".join(SCENARIOS))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="alert-timings-") as tmp, demo_stack(
            Path(tmp), interval_s=INTERVAL_S, scrape="15s", shipped_timings=True) as stack:
        print(f"netmon demo --interval {INTERVAL_S}s, Prometheus scrape/evaluation 15 s, "
              "shipped rules and Alertmanager timings", flush=True)
        for name in args.only.split(","):
            print(f"\n{name}:", flush=True)
            SCENARIOS[name](stack)
    print("\n| incident | measured | figure | target | ratio | note |\n|---|---|---|---|---|---|")
    for incident, what, seconds, target, note in ROWS:
        fig = "" if seconds is None else f"{seconds:.0f} s"
        tgt = "" if target is None else f"≤ {target:.0f} s"
        ratio = "" if seconds is None or not target else f"{seconds / target:.2f}"
        print(f"| {incident} | {what} | {fig} | {tgt} | {ratio} | {note} |")


if __name__ == "__main__":
    main()
