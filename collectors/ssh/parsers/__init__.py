"""Pure CLI text → dict parsers, one module per CLI family, tested on recorded output.

TextFSM templates from ntc-templates are used where one exists and copes with what our
firmware prints; each module says where and why it falls back to a small parser of its
own. Parsers return values in base units (dBm, °C, bits/s, bytes, seconds, ratios 0-1)
and `None` for anything the device did not print: a missing value is never a zero.
"""

from collectors.ssh.parsers.common import ParseError

__all__ = ["ParseError"]
