"""Entry point of one lab agent process: snmpsim's command responder plus a watchdog.

`python -m netmon.lab.agent ARGS...` is `snmpsim-command-responder ARGS...` run by the
lab's own interpreter (so the `netmonlab` variation module can import `netmon.lab`),
with one addition: a daemon thread that exits the process when its parent (the lab) is
gone. A lab killed with SIGKILL therefore leaves no agents holding its ports.
"""

from __future__ import annotations

import os
import sys
import threading
import time


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os._exit(0)


def main() -> int:
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    os.environ.setdefault("SNMPSIM_ALLOW_ROOT", "true")  # the lab runs as root in CI
    from snmpsim.commands import responder

    sys.argv = ["snmpsim-command-responder", *sys.argv[1:]]
    return int(responder.main() or 0)


if __name__ == "__main__":
    sys.exit(main())
