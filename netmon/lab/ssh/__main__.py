"""`python -m netmon.lab.ssh WORKDIR`: serve a prepared SSH lab until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from netmon.lab.ssh.server import SshEmulator


async def _main(workdir: str) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await SshEmulator(workdir).serve(stop)


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: python -m netmon.lab.ssh WORKDIR", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    asyncio.run(_main(sys.argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
