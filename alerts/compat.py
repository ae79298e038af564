"""Make alerts/alertmanager.yml loadable by Alertmanager 0.25 (Debian 12).

Alertmanager 0.26 added `bot_token_file` to `telegram_configs`; 0.25 knows only
`bot_token`. This copies the configuration, replacing each `bot_token_file: PATH` by
`bot_token: <the file's content>`, and writes the result with mode 0640 (it holds the
token). Nothing else changes. Usage:

    python3 alerts/compat.py alerts/alertmanager.yml /etc/alertmanager/alertmanager.yml

and copy alerts/templates/ to /etc/alertmanager/templates/. On Alertmanager >= 0.26
install alerts/alertmanager.yml as it is.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import yaml


def inline_bot_tokens(config: dict[str, Any]) -> dict[str, Any]:
    """The config with every telegram `bot_token_file` replaced by `bot_token`."""
    for receiver in config.get("receivers") or []:
        for tg in receiver.get("telegram_configs") or []:
            path = tg.pop("bot_token_file", None)
            if path is not None:
                tg["bot_token"] = Path(path).read_text(encoding="utf-8").strip()
    return config


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[-5], file=sys.stderr)
        print("usage: compat.py SOURCE.yml TARGET.yml", file=sys.stderr)
        return 2
    source, target = Path(argv[0]), Path(argv[1])
    config = inline_bot_tokens(yaml.safe_load(source.read_text(encoding="utf-8")))
    text = ("# Generated from " + str(source) + " by alerts/compat.py for Alertmanager "
            "0.25: holds the bot token.\n" + yaml.safe_dump(config, sort_keys=False,
                                                            allow_unicode=True))
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        os.fchmod(out.fileno(), 0o640)
        out.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
