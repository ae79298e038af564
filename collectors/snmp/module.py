"""SNMP modules as data: what to read from a MIB and the metric each value becomes.

A module is a YAML file (snmp_exporter's generator entry, NAV's MibRetriever column
dict): its scalars (GET) and tables (walked columns, numeric OIDs, so no MIB file is
needed), and for each exported value its metric: name, help, type (gauge, counter, enum
as a state set, info), unit, how it is scaled (a fixed factor, another column such as
hrStorageAllocationUnits, or ENTITY-SENSOR-MIB's scale and precision), which rows count
(`when`), the valid range, and the labels of a row (index parts, columns of the row,
columns of another table looked up by an index part, e.g. entPhysicalName for a sensor).

This file is the schema (pydantic, strict: unknown keys are errors) and the pure
conversion from a walk to samples (`module_samples`), so a module is tested with a
recorded walk and no agent, like every other rows → samples function in netmon.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from netmon.errors import ConfigError
from netmon.metrics import DEVICE_LABELS, PREFIX, MetricDef
from netmon.model import Sample
from netmon.yamlfile import (
    Locator,
    YamlPath,
    data_path,
    parse_yaml,
    read_yaml_text,
    render_path,
)

_OID = r"^[0-2](\.(0|[1-9][0-9]{0,9}))+$"
_IDENT = r"^[A-Za-z][A-Za-z0-9_]*$"
_LABEL = r"^[a-z][a-z0-9_]*$"
_METRIC = r"^[a-z][a-z0-9_]*[a-z0-9]$"

Oid = Annotated[str, Field(pattern=_OID, max_length=400)]
Ident = Annotated[str, Field(pattern=_IDENT, max_length=64)]
LabelName = Annotated[str, Field(pattern=_LABEL, max_length=40)]

# Labels every device series carries (netmon.metrics.DEVICE_LABELS) and those netmon
# gives meaning to elsewhere: a module must not redefine them.
RESERVED_LABELS = frozenset({"device", "site", "kecamatan", "role", "collector", "link",
                             "medium", "direction", "state", "le", "quantile", "job",
                             "instance"})
# Base units (docs/metrics.md): a metric with one of these units ends in it.
BASE_UNITS = frozenset({"bytes", "seconds", "celsius", "volts", "amperes", "watts",
                        "hertz", "ratio", "dbm", "joules", "rpm", "percent_rh"})
COUNTER32 = 2**32

# ENTITY-SENSOR-MIB EntitySensorDataScale → power of ten. Note exa(14) before peta(15):
# the MIB lists them out of order, and reading 14 as 10^15 is a classic 1000× bug.
SENSOR_SCALE_EXPONENT = {1: -24, 2: -21, 3: -18, 4: -15, 5: -12, 6: -9, 7: -6, 8: -3,
                         9: 0, 10: 3, 11: 6, 12: 9, 13: 12, 14: 18, 15: 15, 16: 21, 17: 24}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Scalar(_Strict):
    """A value read with GET; `oid` is the instance (ends in .0 for a plain scalar)."""

    oid: Oid


class Column(_Strict):
    """A walked column. `static` columns (names, descriptions, units) change only when
    an operator reconfigures the device: they are cached between polls like IF-MIB's."""

    oid: Oid
    static: bool = False


class IndexPart(_Strict):
    """One part of a table's index, in order. `label` exports it as a label."""

    name: Ident
    type: Literal["integer", "string", "implied_string", "ipv4", "mac"] = "integer"
    label: LabelName | None = None


class Lookup(_Strict):
    """Label a row with a column of another table of the module whose single integer
    index equals this row's index part `by` (entPhysicalName for a sensor row)."""

    label: LabelName
    table: Ident
    column: Ident
    by: Ident


class Table(_Strict):
    index: list[IndexPart] = Field(min_length=1, max_length=8)
    columns: dict[Ident, Column] = Field(min_length=1)
    # label → column of this table
    labels: dict[LabelName, Ident] = Field(default_factory=dict)
    lookups: list[Lookup] = Field(default_factory=list)


class SensorScale(_Strict):
    """ENTITY-SENSOR-MIB style: value × 10^exponent(scale) ÷ 10^precision."""

    scale: Ident
    precision: Ident


class When(_Strict):
    """Export a row only when `column` holds one of `in` (e.g. a sensor whose status is
    ok(1): an unavailable sensor's last value is not a reading)."""

    column: Ident
    in_: list[int] = Field(alias="in", min_length=1)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _conditions_tag(value: Any) -> str:
    return "all" if isinstance(value, list) else "one"


# A single mapping or a list of them; the tag picks the branch so a mistake in a single
# condition is reported once, at its own field (not once per union member)
Conditions = Annotated[
    Annotated[When, Tag("one")] | Annotated[list[When], Tag("all")],
    Discriminator(_conditions_tag),
]
_UNION_TAGS = frozenset({"one", "all"})


class Metric(_Strict):
    """One exported metric. Exactly one of `scalar` or `table` + `value`."""

    name: Annotated[str, Field(pattern=_METRIC, max_length=80)]
    help: str = Field(min_length=10, max_length=400)
    type: Literal["gauge", "counter", "enum", "info"]
    unit: str = Field(default="", max_length=40)
    scalar: Ident | None = None
    table: Ident | None = None
    value: Ident | None = None
    scale: float = 1.0
    scale_by: Ident | None = None
    sensor_scale: SensorScale | None = None
    # Integer32 columns that hold unsigned quantities (hrStorageSize above 2^31 units):
    # a negative reading is taken modulo 2^32
    unsigned: bool = False
    # counters only: also export netmon's honest rate (wraps, agent restarts and
    # impossible jumps handled, netmon.rates) as the gauge <name>_per_second; `bits` is
    # the counter's width (Counter32 wraps, Counter64 does not)
    rate: bool = False
    bits: Literal[32, 64] = 64
    range: tuple[float, float] | None = None
    states: dict[int, LabelName] = Field(default_factory=dict)
    # one condition, or a list that must all hold: ENTITY-SENSOR-MIB's per-type metrics
    # need the sensor's type *and* its status (a celsius reading only from an ok sensor)
    when: Conditions | None = None
    # extra labels from columns of the row (info metrics mostly)
    labels: dict[LabelName, Ident] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _not_prefixed(cls, value: str) -> str:
        if value.startswith("netmon_"):
            raise ValueError("write the name without the netmon_ prefix (it is added)")
        return value

    @field_validator("scale")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value) or value == 0:
            raise ValueError("scale must be a finite number other than 0")
        return value

    @field_validator("when")
    @classmethod
    def _some_conditions(cls, value: When | list[When] | None) -> When | list[When] | None:
        if isinstance(value, list) and not value:
            raise ValueError("give a condition or a list of conditions, not an empty list")
        return value

    def conditions(self) -> list[tuple[YamlPath, When]]:
        """Each `when` condition with its field path below the metric (for messages)."""
        if self.when is None:
            return []
        if isinstance(self.when, When):
            return [(("when",), self.when)]
        return [(("when", i), cond) for i, cond in enumerate(self.when)]

    @model_validator(mode="after")
    def _shape(self) -> Metric:
        if (self.scalar is None) == (self.table is None):
            raise ValueError("give exactly one of scalar: or table:")
        if self.table is not None and self.value is None and self.type != "info":
            raise ValueError("a table metric needs value: (the column it exports)")
        if self.type == "counter" and self.name.endswith("_total"):
            raise ValueError("a counter's name is written without _total (it is added)")
        if self.rate and self.type != "counter":
            raise ValueError("rate: true is for counters")
        if self.rate and (self.scale != 1.0 or self.scale_by or self.sensor_scale):
            raise ValueError("a counter with rate: true is not scaled (its wrap is in "
                             "the agent's units)")
        if self.type == "enum" and not self.states:
            raise ValueError("an enum needs states: {number: name, ...}")
        if self.type != "enum" and self.states:
            raise ValueError("states: is for type enum")
        if self.unit in BASE_UNITS and not self.name.endswith(f"_{self.unit}"):
            raise ValueError(f"a metric in {self.unit} ends in _{self.unit}")
        if self.type in ("enum", "info") and (self.scale != 1.0 or self.scale_by
                                              or self.sensor_scale):
            raise ValueError(f"a {self.type} metric is not scaled")
        if self.range is not None and self.range[0] > self.range[1]:
            raise ValueError("range: [low, high] with low <= high")
        if self.scalar is not None and (self.scale_by or self.sensor_scale or self.when
                                        or self.labels):
            raise ValueError("scale_by, sensor_scale, when and labels need a table metric")
        return self


class Module(_Strict):
    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]*$", max_length=40)]
    description: str = Field(min_length=10)
    scalars: dict[Ident, Scalar] = Field(default_factory=dict)
    tables: dict[Ident, Table] = Field(default_factory=dict)
    metrics: list[Metric] = Field(min_length=1)

    def label_names(self, metric: Metric) -> tuple[str, ...]:
        """The labels of `metric` beyond the device's own, in the order they are written."""
        names: list[str] = []
        if metric.table is not None:
            table = self.tables[metric.table]
            names += [p.label for p in table.index if p.label is not None]
            names += list(table.labels)
            names += [lk.label for lk in table.lookups]
            names += list(metric.labels)
        if metric.type == "enum":
            names.append("state")
        return tuple(names)

    def oids(self) -> tuple[list[str], list[str], list[str]]:
        """(scalar OIDs to GET, static column OIDs, dynamic column OIDs) this module reads."""
        scalars = [s.oid for s in self.scalars.values()]
        static = [c.oid for t in self.tables.values() for c in t.columns.values() if c.static]
        dynamic = [c.oid for t in self.tables.values() for c in t.columns.values()
                   if not c.static]
        return scalars, static, dynamic


def _reference_problems(module: Module) -> Iterator[tuple[YamlPath, str]]:
    """Every name a module uses must be defined in it: checked at load, not at poll.
    Each problem comes with the field path it is written at (for its file:line)."""
    for tname, table in module.tables.items():
        at: YamlPath = ("tables", tname)
        seen = [p.name for p in table.index]
        if len(set(seen)) != len(seen):
            yield (*at, "index"), "index part names repeat"
        for label, column in table.labels.items():
            if column not in table.columns:
                yield (*at, "labels", label), f"unknown column {column!r}"
        for i, lookup in enumerate(table.lookups):
            where = (*at, "lookups", i)
            other = module.tables.get(lookup.table)
            if other is None:
                yield (*where, "table"), f"unknown table {lookup.table!r}"
            elif lookup.column not in other.columns:
                yield (*where, "column"), f"table {lookup.table} has no column {lookup.column!r}"
            elif len(other.index) != 1 or other.index[0].type != "integer":
                yield (*where, "table"), (f"table {lookup.table} must have a single integer "
                                          "index to be looked up")
            if lookup.by not in seen:
                yield (*where, "by"), f"{lookup.by!r} is not an index part of table {tname}"
        for i, part in enumerate(table.index):
            if part.type == "implied_string" and i != len(table.index) - 1:
                yield (*at, "index", i), "an implied_string index part must be the last"
        for label in _table_labels(table):
            if label in RESERVED_LABELS:
                yield at, f"label {label!r} is reserved"
    names: set[str] = set()
    for i, metric in enumerate(module.metrics):
        at = ("metrics", i)
        if metric.name in names:
            yield (*at, "name"), f"metric {metric.name} is defined twice"
        names.add(metric.name)
        if metric.scalar is not None and metric.scalar not in module.scalars:
            yield (*at, "scalar"), f"unknown scalar {metric.scalar!r}"
        if metric.table is None:
            continue
        source = module.tables.get(metric.table)
        if source is None:
            yield (*at, "table"), f"unknown table {metric.table!r}"
            continue
        used: list[tuple[YamlPath, str | None]] = [
            ((*at, "value"), metric.value), ((*at, "scale_by"), metric.scale_by),
            *(((*at, "labels", k), v) for k, v in metric.labels.items()),
            *(((*at, *where, "column"), cond.column) for where, cond in metric.conditions()),
            ((*at, "sensor_scale", "scale"),
             metric.sensor_scale.scale if metric.sensor_scale else None),
            ((*at, "sensor_scale", "precision"),
             metric.sensor_scale.precision if metric.sensor_scale else None)]
        for where, name in used:
            if name is not None and name not in source.columns:
                yield where, f"table {metric.table} has no column {name!r}"
        labels = module.label_names(metric)
        if len(set(labels)) != len(labels):
            yield at, f"a label name is used twice ({', '.join(labels)})"
        for label in metric.labels:
            if label in RESERVED_LABELS:
                yield (*at, "labels", label), f"label {label!r} is reserved"


def _table_labels(table: Table) -> list[str]:
    return ([p.label for p in table.index if p.label is not None] + list(table.labels)
            + [lk.label for lk in table.lookups])


# --- a walk → samples (pure) --------------------------------------------------------------

Value = int | str


@dataclass(frozen=True)
class Walk:
    """What one poll read: scalars by instance OID, columns as {column OID: {index: value}}
    (the shape `SnmpClient.walk_columns` returns)."""

    scalars: Mapping[str, Value]
    columns: Mapping[str, Mapping[str, Value]]


@dataclass(frozen=True)
class Dropped:
    """A value that was read but not exported, and why (counted and logged by the caller:
    an out-of-type value is a malformed reply, not data)."""

    metric: str
    index: str
    reason: str


def _decode_index(parts: list[IndexPart], index: str) -> dict[str, str] | None:
    """Index sub-identifiers → one string per part; None when they do not fit exactly."""
    try:
        ids = [int(x) for x in index.split(".")] if index else []
    except ValueError:
        return None
    out: dict[str, str] = {}
    pos = 0
    for part in parts:
        if part.type == "integer":
            if pos >= len(ids):
                return None
            out[part.name] = str(ids[pos])
            pos += 1
        elif part.type == "ipv4":
            if pos + 4 > len(ids) or any(b > 255 for b in ids[pos:pos + 4]):
                return None
            out[part.name] = ".".join(map(str, ids[pos:pos + 4]))
            pos += 4
        elif part.type == "mac":
            if pos + 6 > len(ids) or any(b > 255 for b in ids[pos:pos + 6]):
                return None
            out[part.name] = ":".join(f"{b:02x}" for b in ids[pos:pos + 6])
            pos += 6
        else:
            if part.type == "string":
                if pos >= len(ids):
                    return None
                length, pos = ids[pos], pos + 1
            else:  # implied_string: the rest
                length = len(ids) - pos
            chunk = ids[pos:pos + length]
            if len(chunk) != length or any(b > 255 for b in chunk):
                return None
            out[part.name] = bytes(chunk).decode("utf-8", "backslashreplace")
            pos += length
    return out if pos == len(ids) else None


def _number(value: Value | None) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def _label_text(value: Value | None) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def _times(value: float, factor: float) -> float:
    """value × factor, dividing by 1/factor when that is a whole number: 297745 × 0.01
    is 2977.4500000000003 but 297745 / 100 is 2977.45, the number the agent meant."""
    if 0 < abs(factor) < 1:
        inverse = 1 / factor
        if abs(inverse - round(inverse)) < 1e-9 * abs(inverse):
            return value / round(inverse)
    return value * factor


def _scaled(metric: Metric, raw: int, row: Mapping[str, Value | None],
            table: Table | None) -> float | str:
    """The exported value, or the reason it cannot be exported."""
    if metric.unsigned and raw < 0:
        if raw < -(COUNTER32 // 2):
            return "negative beyond 32 bits"
        raw += COUNTER32
    if metric.type == "counter" and raw < 0:
        return "negative counter"
    value = _times(raw, metric.scale)
    if metric.scale_by is not None:
        factor = _number(row.get(metric.scale_by))
        if factor is None or factor <= 0:
            return f"{metric.scale_by} missing or not positive"
        value *= factor
    if metric.sensor_scale is not None:
        scale = _number(row.get(metric.sensor_scale.scale))
        precision = _number(row.get(metric.sensor_scale.precision))
        if scale not in SENSOR_SCALE_EXPONENT or precision is None or not -8 <= precision <= 9:
            return "sensor scale or precision out of range"
        value = _times(value, 10.0 ** (SENSOR_SCALE_EXPONENT[scale] - precision))
    if metric.range is not None and not metric.range[0] <= value <= metric.range[1]:
        return f"{value:g} outside {metric.range[0]:g}..{metric.range[1]:g}"
    return value


def module_samples(module: Module, walk: Walk) -> tuple[list[Sample], list[Dropped]]:
    """Samples for every metric of `module` from one poll's walk, in metric order.

    A value of the wrong type, outside its range, or in a row whose index does not
    decode is not exported; it is returned in `Dropped` so the caller can count it as a
    malformed reply. A row the agent does not have is simply absent (never a zero)."""
    samples: list[Sample] = []
    dropped: list[Dropped] = []
    rows_cache: dict[str, dict[str, dict[str, Value | None]]] = {}
    for metric in module.metrics:
        if metric.scalar is not None:
            raw = walk.scalars.get(module.scalars[metric.scalar].oid)
            if raw is not None:
                _emit(module, metric, "", raw, {}, {}, samples, dropped)
            continue
        assert metric.table is not None
        table = module.tables[metric.table]
        rows = rows_cache.get(metric.table)
        if rows is None:
            rows = rows_cache[metric.table] = _rows(table, walk)
        for index, row in rows.items():
            decoded = _decode_index(table.index, index)
            if decoded is None:
                dropped.append(Dropped(metric.name, index, "index does not decode"))
                continue
            if any(_number(row.get(cond.column)) not in cond.in_
                   for _, cond in metric.conditions()):
                continue
            labels = _row_labels(module, table, metric, decoded, row, walk, rows_cache)
            if metric.type == "info":
                samples.append(Sample(metric.name, 1.0, labels))
                continue
            raw = row.get(metric.value or "")
            if raw is None:
                continue
            _emit(module, metric, index, raw, row, dict(labels), samples, dropped, table)
    return samples, dropped


def _rows(table: Table, walk: Walk) -> dict[str, dict[str, Value | None]]:
    rows: dict[str, dict[str, Value | None]] = {}
    for name, column in table.columns.items():
        for index, value in walk.columns.get(column.oid, {}).items():
            rows.setdefault(index, {})[name] = value
    return rows


def _row_labels(module: Module, table: Table, metric: Metric, decoded: Mapping[str, str],
                row: Mapping[str, Value | None], walk: Walk,
                rows_cache: dict[str, dict[str, dict[str, Value | None]]]
                ) -> tuple[tuple[str, str], ...]:
    labels = [(p.label, decoded[p.name]) for p in table.index if p.label is not None]
    labels += [(label, _label_text(row.get(column))) for label, column in table.labels.items()]
    for lookup in table.lookups:
        other = rows_cache.get(lookup.table)
        if other is None:
            other = rows_cache[lookup.table] = _rows(module.tables[lookup.table], walk)
        target = other.get(decoded[lookup.by], {})
        labels.append((lookup.label, _label_text(target.get(lookup.column))))
    labels += [(label, _label_text(row.get(column))) for label, column in metric.labels.items()]
    return tuple(labels)


def _emit(module: Module, metric: Metric, index: str, raw: Value,
          row: Mapping[str, Value | None], labels: dict[str, str], samples: list[Sample],
          dropped: list[Dropped], table: Table | None = None) -> None:
    number = _number(raw)
    if number is None:
        dropped.append(Dropped(metric.name, index, f"not a number ({type(raw).__name__})"))
        return
    pairs = tuple(labels.items())
    if metric.type == "enum":
        if number not in metric.states:
            dropped.append(Dropped(metric.name, index, f"{number} is not a known state"))
            return
        for code, state in metric.states.items():
            samples.append(Sample(metric.name, 1.0 if code == number else 0.0,
                                  (*pairs, ("state", state))))
        return
    value = _scaled(metric, number, row, table)
    if isinstance(value, str):
        dropped.append(Dropped(metric.name, index, value))
        return
    samples.append(Sample(metric.name, value, pairs))




def rate_name(metric: Metric) -> str:
    return f"{metric.name}_per_second"


def metric_defs(module: Module) -> list[MetricDef]:
    """The catalogue entries of a module's metrics (and of the rates it asks for), which
    the SNMP collector registers so that both sinks export its samples."""
    out: list[MetricDef] = []
    for metric in module.metrics:
        labels = (*DEVICE_LABELS, *module.label_names(metric))
        kind: Literal["gauge", "counter", "info"] = (
            "gauge" if metric.type == "enum" else metric.type)
        help_text = metric.help if metric.type != "enum" else (
            f"{metric.help} (1 for the current state, 0 for the others: "
            + ", ".join(f"{code} {state}" for code, state in metric.states.items()) + ")")
        rate = rate_name(metric) if metric.rate else ""
        out.append(MetricDef(metric.name, kind, labels, metric.unit, help_text,
                             source=module.name, rate=rate, counter_bits=metric.bits))
        if rate:
            out.append(MetricDef(rate, "gauge", labels, f"{metric.unit}/s" if metric.unit
                                 else "per second",
                                 f"Rate of {PREFIX}{metric.name}_total per second over the "
                                 "last poll interval, computed by netmon (wraps and resets "
                                 "handled; absent when no honest rate exists).",
                                 source=module.name))
    return out


def describe(module: Module) -> Iterator[tuple[str, str, str, tuple[str, ...], str]]:
    """(exported name, type, unit, labels, help) per metric: for `netmon modules` and the
    metric reference."""
    for d in metric_defs(module):
        kind = "gauge (state set)" if "state" in d.labels[len(DEVICE_LABELS):] else (
            "gauge" if d.kind == "info" else d.kind)
        yield d.full_name, kind, d.unit, d.labels[len(DEVICE_LABELS):], d.help


# --- loading: every problem at once, with file:line ---------------------------------------

MAX_MODULE_BYTES = 1 * 2**20


class ModuleError(ConfigError):
    """Problems in SNMP module files (`source` heads the list `format_problems` prints)."""

    source = "the SNMP modules"
SHIPPED = Path(__file__).resolve().parent / "modules"


def _message(error: Any) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown key (check the spelling; see docs/modules.md)"
    if error["type"] == "missing":
        return "required field is missing"
    if error["type"] == "model_type":
        return "a mapping is expected here"
    if error["type"] == "string_pattern_mismatch":
        pattern = (error.get("ctx") or {}).get("pattern")
        return _PATTERN_HELP.get(str(pattern), str(error["msg"]))
    return str(error["msg"]).removeprefix("Value error, ")


_PATTERN_HELP = {
    _OID: "a numeric OID (1.3.6.1...), without MIB names",
    _IDENT: "names use letters, digits and '_', starting with a letter",
    _LABEL: "label names are lowercase: a-z, digits and '_', starting with a letter",
    _METRIC: "metric names are lowercase snake_case: a-z, digits and '_'",
}


def check_module(data: Any) -> tuple[Module | None, list[tuple[YamlPath, str]]]:
    """The module and the problems of its data, each with its field path."""
    try:
        module = Module.model_validate(data)
    except ValidationError as exc:
        return None, [(data_path(e["loc"], data, _UNION_TAGS), _message(e))
                      for e in exc.errors(include_input=False, include_url=False)]
    return module, list(_reference_problems(module))


def parse_module(data: Any) -> Module:
    """Validate one module's data; `ConfigError` lists every problem (without lines:
    `load_module` adds them)."""
    module, problems = check_module(data)
    if problems or module is None:
        raise ModuleError([f"{render_path(p)}: {m}" for p, m in problems])
    return module


def load_module(path: Path) -> Module:
    """One module file; `ConfigError` with every problem as `file:line: path: message`."""
    try:
        text = read_yaml_text(path, MAX_MODULE_BYTES, "SNMP module")
        data = parse_yaml(text, path)
    except ConfigError as exc:
        raise ModuleError(exc.problems) from None
    if not isinstance(data, dict):
        raise ModuleError([f"{path}:1: an SNMP module is a mapping (name:, description:, "
                           "scalars:, tables:, metrics:)"])
    module, problems = check_module(data)
    if problems or module is None:
        raise ModuleError(Locator(text, path).numbered(problems))
    return module


def load_modules(folders: list[Path]) -> dict[str, Module]:
    """Every `*.yaml` module in `folders` (the shipped one first): all problems of all
    files at once; a module or metric name defined twice, or a metric that netmon
    itself exports, is a problem too."""
    from netmon.metrics import BUILTIN  # the built-in series a module must not shadow

    modules: dict[str, Module] = {}
    origin: dict[str, Path] = {}
    metrics: dict[str, str] = {name: "netmon itself" for name in BUILTIN}
    problems: list[str] = []
    for folder in folders:
        if not folder.is_dir():
            problems.append(f"{folder}: no such folder of SNMP modules")
            continue
        for path in sorted(folder.glob("*.yaml")):
            try:
                module = load_module(path)
            except ConfigError as exc:
                problems.extend(exc.problems)
                continue
            if module.name in modules:
                problems.append(f"{path}:1: name: module {module.name!r} is also defined in "
                                f"{origin[module.name]}")
                continue
            for d in metric_defs(module):
                if d.name in metrics:
                    problems.append(f"{path}:1: metrics: {d.name} is also exported by "
                                    f"{metrics[d.name]}")
                metrics.setdefault(d.name, f"module {module.name}")
            modules[module.name], origin[module.name] = module, path
    if problems:
        raise ModuleError(problems)
    return modules
