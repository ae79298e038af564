"""Strict YAML files with file:line errors: the one loader of the inventory, the web
config and SNMP modules.

Whatever a file holds (binary, UTF-16, a FIFO, gigabytes, an alias bomb, 100,000 levels
of nesting that crash libyaml's C loader), reading it ends in data or in a `ConfigError`
whose messages name the file and line and never quote a secret: never another exception,
never a hang. Problems found later, in the data, are mapped back to their lines by
`Locator`, built only when there is something to report (the node tree of a
5,000-device inventory costs ~100 MB).
"""

from __future__ import annotations

import codecs
import os
import re
import stat
from collections.abc import Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from netmon.errors import ConfigError
from netmon.units import shown

MAX_YAML_NODES = 2_000_000  # counted with every alias expanded
MAX_YAML_DEPTH = 64

class ReadError(Exception):
    """Why a file was not read: a short reason without its content (or its name)."""


_FILE_KINDS = (
    (stat.S_ISDIR, "is a directory"),
    (stat.S_ISFIFO, "is a FIFO (named pipe), not a file"),
    (stat.S_ISCHR, "is a character device, not a file"),
    (stat.S_ISBLK, "is a block device, not a file"),
    (stat.S_ISSOCK, "is a socket, not a file"),
)


def read_bounded(path: Path, limit: int) -> bytes:
    """Read a regular file of at most `limit` bytes, never blocking, never more.

    The type is checked before opening (opening a FIFO for reading blocks until a writer
    comes; /dev/zero never ends), the open is non-blocking in case the path is swapped
    in between, and at most limit+1 bytes are read whatever the size claims (/proc).
    Raises `ReadError` with a reason that holds no content.
    """
    try:
        kind = os.stat(path).st_mode
        for is_kind, reason in _FILE_KINDS:
            if is_kind(kind):
                raise ReadError(reason)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        raise ReadError(exc.strerror or type(exc).__name__) from None
    except ValueError:  # an embedded NUL byte in the path
        raise ReadError("not a valid file name") from None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ReadError("is not a regular file")
        size = os.fstat(fd).st_size
        if size > limit:
            raise ReadError(f"is {format_size(size)}; the limit is {format_size(limit)}")
        try:
            data = handle.read(limit + 1)
        except OSError as exc:
            raise ReadError(exc.strerror or type(exc).__name__) from None
    if len(data) > limit:
        raise ReadError(f"is larger than the limit of {format_size(limit)}")
    return data


def format_size(count: int) -> str:
    for unit, factor in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if count >= factor:
            return f"{count / factor:.1f} {unit}".replace(".0 ", " ")
    return f"{count} bytes"


@dataclass(frozen=True)
class Key:
    """A mapping key YAML reads as something other than a string (`yes`, `161`, `~`).

    Kept apart from list indexes in a field path, so `161: port` renders as `.161`,
    not `[161]`; compared by type too, since True == 1 in Python.
    """

    value: Hashable
    kind: str = field(init=False)
    text: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", type(self.value).__name__)


YamlPath = tuple[str | int | Key, ...]
_MERGE_TAG = "tag:yaml.org,2002:merge"
_STR_TAG = "tag:yaml.org,2002:str"
# What YAML allows in a document (YAML 1.1 "printable"); anything else is refused with
# its line before libyaml's reader reports it by character offset only.
NOT_YAML = re.compile("[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class LineLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """SafeLoader (libyaml's when present: ~10x faster on a 5,000-device inventory) that
    refuses duplicate keys (PyYAML silently keeps the last one)."""

    # byte ranges of values under secret fields (set by `load_data`): a duplicate key there
    # is reported without naming the key, which may be the secret written inline
    secret_spans: tuple[tuple[int, int], ...] = ()


def _construct_mapping(loader: LineLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == _MERGE_TAG:
            continue  # `<<: *anchor`: merged by construct_mapping, explicit keys win
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, Hashable):
            continue  # construct_mapping reports "found unhashable key" with its line
        if key in seen:
            at = key_node.start_mark.index
            if any(start <= at < end for start, end in loader.secret_spans):
                what = "duplicate key in a secret reference (not shown: it may be the secret)"
            else:
                what = f"duplicate key {shown(key)}"
            raise yaml.constructor.ConstructorError(
                None, None, f"{what} (first at line {seen[key] + 1})", key_node.start_mark)
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


class _Frame:
    """One open collection while `scan` streams the events."""

    __slots__ = ("anchor", "expect_key", "is_map", "key", "secret", "span_start", "start")

    def __init__(self, *, is_map: bool, secret: bool, anchor: str | None, start: int,
                 span_start: int | None) -> None:
        self.is_map, self.secret, self.anchor = is_map, secret, anchor
        self.start, self.span_start = start, span_start
        self.expect_key = True
        self.key: Any = None


class ScanError(Exception):
    def __init__(self, mark: Any, message: str) -> None:
        super().__init__(message)
        self.line = mark.line + 1 if mark is not None else 1


def scan(text: str, secret_fields: frozenset[str] = frozenset()
         ) -> tuple[tuple[int, int], ...]:
    """Stream the YAML events once, before any tree is built, and refuse what would not
    fit: nesting deeper than MAX_YAML_DEPTH (libyaml's tree builder recurses in C and
    crashes the process on ~100,000 levels), more than MAX_YAML_NODES values with every
    alias expanded (an alias bomb), an alias inside its own anchor.

    Returns the character ranges of the values written under secret fields.
    """
    frames: list[_Frame] = []
    sizes: dict[str, int] = {}  # anchor -> its node count, aliases expanded
    spans: list[tuple[int, int]] = []
    total = 0
    loader = LineLoader(text)
    try:
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, yaml.CollectionEndEvent):
                frame = frames.pop()
                if frame.anchor is not None:
                    sizes[frame.anchor] = total - frame.start + 1
                if frame.span_start is not None:
                    spans.append((frame.span_start, event.end_mark.index))
                if frames and frames[-1].is_map:
                    frames[-1].expect_key = not frames[-1].expect_key
                continue
            if not isinstance(event, yaml.NodeEvent):
                continue  # stream and document start/end
            parent = frames[-1] if frames else None
            is_key = parent is not None and parent.is_map and parent.expect_key
            secret = parent is not None and (parent.secret or (
                parent.is_map and not is_key and parent.key in secret_fields))
            starts_secret = secret and parent is not None and not parent.secret
            if isinstance(event, yaml.AliasEvent):
                if any(f.anchor == event.anchor for f in frames):
                    raise ScanError(event.start_mark, "an alias refers to a node that "
                                     "contains it (a recursive structure)")
                total += sizes.get(event.anchor or "", 1)
            else:
                total += 1
            if total > MAX_YAML_NODES:
                raise ScanError(event.start_mark, f"more than {MAX_YAML_NODES:,} values "
                                 "with every alias expanded (an alias bomb?); refused")
            if isinstance(event, yaml.CollectionStartEvent):
                if is_key and parent is not None:
                    parent.key = None
                frames.append(_Frame(
                    is_map=isinstance(event, yaml.MappingStartEvent), secret=secret,
                    anchor=event.anchor, start=total,
                    span_start=event.start_mark.index if starts_secret else None))
                if len(frames) > MAX_YAML_DEPTH:
                    raise ScanError(event.start_mark, f"nested more than {MAX_YAML_DEPTH} "
                                     "levels deep; refused")
                continue
            if isinstance(event, yaml.ScalarEvent) and event.anchor is not None:
                sizes[event.anchor] = 1
            if starts_secret:
                spans.append((event.start_mark.index, event.end_mark.index))
            if parent is not None and parent.is_map:
                if is_key:
                    parent.key = event.value if isinstance(event, yaml.ScalarEvent) else None
                parent.expect_key = not parent.expect_key
    except yaml.MarkedYAMLError as exc:
        if frames and frames[-1].secret:
            # the parser's message may quote the text it choked on: the secret
            mark = exc.problem_mark or exc.context_mark
            raise ScanError(mark, "YAML syntax error in a secret reference (not shown: "
                             "it may hold the secret)") from None
        raise
    finally:
        loader.dispose()
    return tuple(spans)


def load_data(text: str, secret_spans: tuple[tuple[int, int], ...] = ()) -> Any:
    loader = LineLoader(text)
    loader.secret_spans = secret_spans
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def _key_of(key_node: yaml.Node) -> str | Key | None:
    """The key as the data has it: `yes` is True and `161` an int (YAML 1.1), so a
    field path found in the data finds its line here too."""
    if not isinstance(key_node, yaml.ScalarNode):
        return None  # a complex key: "found unhashable key" is reported by the loader
    if key_node.tag == _STR_TAG:
        return str(key_node.value)
    construct = yaml.SafeLoader.yaml_constructors.get(key_node.tag)
    try:
        value = construct(_KEY_CONSTRUCTOR, key_node) if construct else key_node.value
    except (yaml.YAMLError, ValueError, TypeError):
        value = key_node.value
    if isinstance(value, str):
        return value
    return Key(value, text=str(key_node.value)) if isinstance(value, Hashable) else None


_KEY_CONSTRUCTOR = yaml.constructor.SafeConstructor()


def index_lines(node: yaml.Node, path: YamlPath, lines: dict[YamlPath, int],
                 merged: bool = False) -> None:
    """Map every data path to the 1-based line where it is written.

    Keys merged in with `<<: *anchor` point at the anchor's lines, unless the mapping
    sets the key itself (explicit keys win, as in the data).
    """
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        merges: list[yaml.Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merges.append(value_node)
                continue
            key = _key_of(key_node)
            if key is None:
                continue
            line = key_node.start_mark.line + 1
            if merged:
                lines.setdefault((*path, key), line)
            else:
                lines[(*path, key)] = line
            index_lines(value_node, (*path, key), lines, merged)
        for source in merges:
            for mapping in (source.value if isinstance(source, yaml.SequenceNode) else
                            [source]):
                index_lines(mapping, path, lines, merged=True)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            index_lines(item, (*path, i), lines, merged)


def data_path(loc: tuple[Any, ...], data: Any,
              union_tags: frozenset[str] = frozenset()) -> YamlPath:
    """Keep only the parts of a pydantic `loc` that exist in the data (drop union tags)."""
    path: list[str | int | Key] = []
    node = data
    tag_skipped = False  # a union tag comes once, right after the union's own field
    for part in loc:
        present = (isinstance(node, dict) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        )
        if present:
            if isinstance(node, dict) and not isinstance(part, str):
                # pydantic writes the key True as 1: take the data's own key back
                part = next((k for k in node if k == part and not isinstance(k, str)), part)
                path.append(Key(part))
            else:
                path.append(part)
            node = node[part]
            tag_skipped = False
        elif isinstance(node, dict | list):
            if part == "[key]" or (isinstance(part, str) and part.startswith(
                    ("function-", "union["))):
                continue
            if part in union_tags and not tag_skipped:
                tag_skipped = True
                continue
            # a missing key: name it, so the message says which field is absent
            if isinstance(part, str):
                path.append(part)
                node = None
        else:
            break
    return tuple(path)


def redact(path: YamlPath, secret_fields: frozenset[str]) -> tuple[YamlPath, bool]:
    """Cut a field path at a secret field (keeping `env`/`file` under it): whatever is
    written deeper may be the secret. Returns the path and whether it was cut."""
    for i, part in enumerate(path):
        if isinstance(part, str) and part in secret_fields and i > 0:
            rest = path[i + 1:]
            keep = 1 if rest[:1] in (("env",), ("file",)) else 0
            return path[:i + 1 + keep], len(rest) > keep
    return path, False


def render_path(path: YamlPath) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            name = (part.text or repr(part.value)) if isinstance(part, Key) else part
            out += f".{name}" if out else str(name)
    return out or "(top level)"


def line_for(path: YamlPath, lines: dict[YamlPath, int]) -> int:
    for n in range(len(path), -1, -1):
        if path[:n] in lines:
            return lines[path[:n]]
    return 1


NUL_HELP = ("a NUL byte: a binary file, or UTF-16 text without a byte-order mark? "
             "Save it as UTF-8 text")
_UTF16_32_BOMS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE,
                  codecs.BOM_UTF16_BE)


def decode_text(raw: bytes, path: Path) -> str:
    """UTF-8 text, or a `ConfigError` naming the line (never quoting the bytes)."""
    if raw.startswith(_UTF16_32_BOMS):
        raise ConfigError([f"{path}:1: the file is UTF-16 or UTF-32 text (it starts with "
                           "that byte-order mark): save it as UTF-8"])
    nul = raw.find(b"\0")
    if nul >= 0:  # before decoding: a binary file fails here, with its first line
        line = raw.count(b"\n", 0, nul) + 1
        raise ConfigError([f"{path}:{line}: {NUL_HELP}"])
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ConfigError([f"{path}:{line}: not UTF-8 text (an invalid byte at column "
                           f"{column}): save the file as UTF-8"]) from None


def parse_yaml(text: str, path: Path, secret_fields: frozenset[str] = frozenset()) -> Any:
    """The data of a YAML document, or a `ConfigError` with the file and line.

    Values under `secret_fields` are never quoted, whatever the error."""
    bad = NOT_YAML.search(text)
    if bad is not None:
        line = text.count("\n", 0, bad.start()) + 1
        char = f"U+{ord(bad.group()):04X}"
        what = (NUL_HELP if bad.group() == "\0" else
                f"character {char} is not allowed in YAML (a control character)")
        raise ConfigError([f"{path}:{line}: {what}"])
    spans: tuple[tuple[int, int], ...] = ()
    try:
        spans = scan(text, secret_fields)
        return load_data(text, spans)
    except ScanError as exc:
        raise ConfigError([f"{path}:{exc.line}: {exc}"]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        problem = exc.problem
        if (mark is not None and "(not shown" not in str(problem)
                and any(start <= mark.index < end for start, end in spans)):
            # e.g. an unknown tag (`community: !s3cret x`): the message would quote it
            problem = "in a secret reference (not shown: it may hold the secret)"
        raise ConfigError([f"{path}:{line}: YAML syntax error: {problem}"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}: YAML error: {exc}"]) from None


def read_yaml_text(path: Path, limit: int, what: str) -> str:
    """A file's text for `parse_yaml`: a regular file of at most `limit` bytes of UTF-8,
    or a `ConfigError` saying why not ("cannot read inventory: is a FIFO …")."""
    try:
        raw = read_bounded(path, limit)
    except ReadError as exc:
        raise ConfigError([f"{path}: cannot read {what}: {exc}"]) from None
    return decode_text(raw, path)


class Locator:
    """Field paths → `file:line: path: message`, from the document's node tree."""

    def __init__(self, text: str, path: Path) -> None:
        self.path = path
        self.lines: dict[YamlPath, int] = {}
        node = LineLoader(text).get_single_node()
        if node is not None:  # an empty document has no lines to point at
            index_lines(node, (), self.lines)
        # the keys as written (`yes`, not True) for the non-string keys in paths
        self._spelled = {part: part for p in self.lines for part in p if isinstance(part, Key)}

    def render(self, p: YamlPath) -> str:
        return render_path(tuple(self._spelled.get(k, k) if isinstance(k, Key) else k
                                 for k in p))

    def line(self, p: YamlPath) -> int:
        return line_for(p, self.lines)

    def numbered(self, found: list[tuple[YamlPath, str]]) -> list[str]:
        """Each problem once, in line order."""
        out = sorted((line_for(p, self.lines), f"{self.path}:{line_for(p, self.lines)}: "
                      f"{self.render(p)}: {message}") for p, message in found)
        return list(dict.fromkeys(m for _, m in out))
