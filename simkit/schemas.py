"""Versioned event schemas, and a schema registry with Confluent's compatibility modes.

A :class:`Schema` names an event and lists its fields; a field with a default is
*optional*. Events change, so a registry keeps every version of a *subject* (usually
one per topic) and refuses a new version that would break producers or consumers still
on an older one.

Reading follows Avro's schema resolution, cut down to flat records (Avro specification,
"Schema Resolution", https://avro.apache.org/docs/1.12.0/specification/#schema-resolution;
checker ``org.apache.avro.SchemaCompatibility``): the record names must match; a reader
field the writer also has must have the same type or one Avro promotes the written value
to (int -> long -> double); a reader field the writer lacks needs a default, which fills
in; a writer field the reader lacks is skipped.

The modes are Confluent's (``CompatibilityLevel`` and ``CompatibilityChecker`` in
github.com/confluentinc/schema-registry; the summary table of "Schema Evolution and
Compatibility", https://docs.confluent.io/platform/current/schema-registry/fundamentals/schema-evolution.html):

* ``BACKWARD`` (the default): the new schema must read data written with the last one (upgrade consumers first);
* ``FORWARD``: the last schema must read data written with the new one (upgrade producers first);
* ``FULL``: both (upgrade in any order);
* ``*_TRANSITIVE``: the same, against every earlier version instead of only the last;
* ``NONE``: no check.

So BACKWARD lets you delete fields and add optional ones, FORWARD lets you add fields
and delete optional ones, and FULL only lets you add or delete optional ones. With no
Avro aliases here, a rename is a delete plus an add: only NONE accepts renaming a
required field.
"""

from __future__ import annotations

from dataclasses import dataclass, field as dc_field, replace
from enum import Enum
from typing import Any

from .errors import ConfigError, SimkitError

__all__ = [
    "MISSING", "SCHEMA_KEY", "TYPES", "VERSION_KEY", "Compatibility", "DeserializationError", "Field",
    "IncompatibleSchema", "Schema", "SchemaRegistry", "can_read", "check_compatibility", "contract_check",
    "decode", "encode",
]


class _Missing:
    """The type of :data:`MISSING`; shows up as ``MISSING`` in reprs."""

    def __repr__(self) -> str:
        return "MISSING"


#: The "no default" marker: a field whose default is MISSING is required.
MISSING: Any = _Missing()

#: The Avro primitive types this kit supports.
TYPES = ("string", "int", "long", "double", "boolean")

# For each reader type, the writer types it can read (Avro's promotions, restricted to TYPES).
_READS = {"string": {"string"}, "int": {"int"}, "long": {"int", "long"}, "double": {"int", "long", "double"},
          "boolean": {"boolean"}}
_INT_RANGE = {"int": 2**31, "long": 2**63}

#: The keys :func:`encode` adds to a payload to say which schema wrote it.
SCHEMA_KEY, VERSION_KEY = "__schema__", "__version__"


def _type_error(type_: str, value: Any) -> str | None:
    """Why ``value`` is not a valid ``type_``, or None if it is."""
    if type_ == "boolean":
        return None if isinstance(value, bool) else "a boolean"
    if type_ == "string":
        return None if isinstance(value, str) else "a string"
    if type_ == "double":
        return None if isinstance(value, (int, float)) and not isinstance(value, bool) else "a number"
    bound = _INT_RANGE[type_]
    ok = isinstance(value, int) and not isinstance(value, bool) and -bound <= value < bound
    return None if ok else f"a whole number that fits in a {bound.bit_length()}-bit {type_}"


class IncompatibleSchema(SimkitError):
    """The registry refused a schema that breaks the subject's mode; ``problems`` says what would fail."""

    def __init__(self, subject: str, mode: "Compatibility", problems: list[str]):
        self.subject, self.mode, self.problems = subject, mode, list(problems)
        lines = "".join(f"\n  - {p}" for p in self.problems)
        super().__init__(f"schema for subject {subject!r} is incompatible under {mode.value}:{lines}")


class DeserializationError(SimkitError):
    """A consumer could not read an event with its schema: typically a field it needs is not in the data."""


@dataclass(frozen=True)
class Field:
    """One field of an event: a name, a type from :data:`TYPES` and, if the field is optional, a default."""

    name: str
    type: str
    default: Any = MISSING

    def __post_init__(self) -> None:
        if not self.name.isidentifier() or self.name in (SCHEMA_KEY, VERSION_KEY):
            raise ConfigError("name", self.name, "a name made of letters, digits and _ (not a tag key)")
        if self.type not in TYPES:
            raise ConfigError("type", self.type, TYPES)
        if self.optional and (why := _type_error(self.type, self.default)):
            raise ConfigError(f"default of {self.name!r}", self.default, why)

    @property
    def optional(self) -> bool:
        """True if the field has a default, so a reader can do without it."""
        return self.default is not MISSING


@dataclass(frozen=True)
class Schema:
    """An event's shape (name and fields), plus the version a registry gave it (None until registered).

    The version is a label, not part of the shape: equality ignores it. The ``*_field``
    helpers return a new, unregistered schema and leave this one alone.
    """

    name: str
    fields: tuple[Field, ...] = ()
    version: int | None = dc_field(default=None, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", tuple(self.fields))
        names = [f.name for f in self.fields]
        if len(set(names)) != len(names):
            raise ConfigError("fields", names, "field names without repeats")

    def field(self, name: str) -> Field | None:
        """The field called ``name``, or None."""
        return next((f for f in self.fields if f.name == name), None)

    def add_field(self, new: Field) -> Schema:
        """This schema with ``new`` appended."""
        return replace(self, fields=self.fields + (new,), version=None)

    def remove_field(self, name: str) -> Schema:
        """This schema without the field ``name``."""
        if self.field(name) is None:
            raise ConfigError("name", name, [f.name for f in self.fields])
        return replace(self, fields=tuple(f for f in self.fields if f.name != name), version=None)

    def rename_field(self, old: str, new: str) -> Schema:
        """This schema with field ``old`` called ``new`` (to a reader, a delete plus an add)."""
        self.remove_field(old)  # raises if there is no such field
        return replace(self, fields=tuple(replace(f, name=new) if f.name == old else f for f in self.fields),
                       version=None)

    def __str__(self) -> str:
        return f"{self.name!r}" + (f" v{self.version}" if self.version is not None else "")


def can_read(reader: Schema, writer: Schema) -> list[str]:
    """Why a consumer using ``reader`` cannot decode data written with ``writer`` (empty: it can; Avro's rules)."""
    if reader.name != writer.name:
        return [f"reader record {reader} and writer record {writer} have different names"]
    problems = []
    for f in reader.fields:
        w = writer.field(f.name)
        if w is None:
            if not f.optional:
                problems.append(f"reader field {f.name!r} has no default and writer {writer} does not write it")
        elif w.type not in _READS[f.type]:
            problems.append(f"reader field {f.name!r} is {f.type} but writer {writer} writes it as {w.type}"
                            f" ({f.type} reads only {'/'.join(sorted(_READS[f.type]))})")
    return problems


class Compatibility(str, Enum):
    """Confluent Schema Registry's compatibility modes (``CompatibilityLevel``); BACKWARD is the default."""

    BACKWARD = "BACKWARD"
    BACKWARD_TRANSITIVE = "BACKWARD_TRANSITIVE"
    FORWARD = "FORWARD"
    FORWARD_TRANSITIVE = "FORWARD_TRANSITIVE"
    FULL = "FULL"
    FULL_TRANSITIVE = "FULL_TRANSITIVE"
    NONE = "NONE"

    @classmethod
    def parse(cls, mode: str | Compatibility) -> Compatibility:
        """The mode called ``mode`` (any letter case, as Confluent's ``forName``); ConfigError if unknown."""
        try:
            return cls(mode.upper() if isinstance(mode, str) else mode)
        except ValueError:
            raise ConfigError("compatibility", mode, [m.value for m in cls]) from None

    @property
    def new_reads_old(self) -> bool:
        """True for BACKWARD and FULL modes: the new schema must read data written with older ones."""
        return self.value.startswith(("BACKWARD", "FULL"))

    @property
    def old_reads_new(self) -> bool:
        """True for FORWARD and FULL modes: older schemas must read data written with the new one."""
        return self.value.startswith(("FORWARD", "FULL"))

    @property
    def transitive(self) -> bool:
        """True if the new schema is compared with every earlier version, not only the last."""
        return self.value.endswith("_TRANSITIVE")


def check_compatibility(mode: str | Compatibility, new: Schema, previous: list[Schema]) -> list[str]:
    """What stops ``new`` from following ``previous`` (oldest first, v1 up) under ``mode``; empty means allowed.

    Like Confluent's ``CompatibilityChecker.isCompatible``, it compares with the last
    version only, or with all of them (newest first) for the transitive modes.
    """
    mode = Compatibility.parse(mode)
    numbered = list(enumerate(previous, start=1))
    against = numbered[::-1] if mode.transitive else numbered[-1:]
    now = len(previous) + 1
    problems = []
    for v, old in against:
        if mode.new_reads_old:
            problems += [f"v{now} cannot read v{v} data: {p}" for p in can_read(new, old)]
        if mode.old_reads_new:
            problems += [f"v{v} cannot read v{now} data: {p}" for p in can_read(old, new)]
    return problems


class SchemaRegistry:
    """Subjects, each with numbered schema versions; a new version must pass the subject's mode first.

    The mode is global (``compatibility``) unless a subject has its own, as in Confluent's
    ``/config`` and ``/config/{subject}`` settings.
    """

    def __init__(self, compatibility: str | Compatibility = "BACKWARD"):
        self.compatibility = Compatibility.parse(compatibility)
        self._subjects: dict[str, list[Schema]] = {}
        self._modes: dict[str, Compatibility] = {}

    def set_compatibility(self, mode: str | Compatibility, subject: str | None = None) -> None:
        """Set the global mode, or only ``subject``'s mode."""
        if subject is None:
            self.compatibility = Compatibility.parse(mode)
        else:
            self._modes[subject] = Compatibility.parse(mode)

    def get_compatibility(self, subject: str | None = None) -> Compatibility:
        """The mode that applies to ``subject`` (its own, else the global one)."""
        return self._modes.get(subject, self.compatibility) if subject is not None else self.compatibility

    def versions(self, subject: str) -> list[int]:
        """The subject's version numbers, from 1 (an empty list for an unknown subject)."""
        return list(range(1, len(self._subjects.get(subject, [])) + 1))

    def get(self, subject: str, version: int) -> Schema:
        """The schema registered as ``version`` of ``subject``."""
        if version not in self.versions(subject):
            raise ConfigError("version", version, f"one of {self.versions(subject)} for subject {subject!r}")
        return self._subjects[subject][version - 1]

    def latest(self, subject: str) -> Schema:
        """The newest version of ``subject``."""
        if not self._subjects.get(subject):
            known = sorted(s for s, history in self._subjects.items() if history)
            raise ConfigError("subject", subject, known or "a subject registered first")
        return self._subjects[subject][-1]

    def check(self, subject: str, schema: Schema) -> list[str]:
        """The problems registering ``schema`` under ``subject`` would meet, without registering it."""
        history = self._subjects.get(subject, [])
        return check_compatibility(self.get_compatibility(subject), replace(schema, version=len(history) + 1),
                                   history)

    def register(self, subject: str, schema: Schema) -> int:
        """Add ``schema`` as the next version of ``subject`` and return its number (the first is 1).

        A schema already registered keeps its version; one that breaks the subject's mode
        raises :class:`IncompatibleSchema`.
        """
        history = self._subjects.setdefault(subject, [])
        if schema in history:
            return history.index(schema) + 1
        problems = self.check(subject, schema)
        if problems:
            raise IncompatibleSchema(subject, self.get_compatibility(subject), problems)
        history.append(replace(schema, version=len(history) + 1))
        return len(history)


def encode(schema: Schema, payload: dict[str, Any]) -> dict[str, Any]:
    """Check ``payload`` against ``schema`` and return what a producer sends, tagged with name and version.

    Required fields must be there and every value must fit its type; a missing optional
    field gets its default; unknown keys are refused (a typo would otherwise vanish).
    """
    unknown = sorted(set(payload) - {f.name for f in schema.fields})
    if unknown:
        raise ConfigError("payload", payload, f"only fields of {schema} (unknown: {', '.join(unknown)})")
    out: dict[str, Any] = {SCHEMA_KEY: schema.name, VERSION_KEY: schema.version}
    for f in schema.fields:
        if f.name not in payload:
            if not f.optional:
                raise ConfigError("payload", payload, f"a value for the required field {f.name!r} of {schema}")
            out[f.name] = f.default
        elif why := _type_error(f.type, payload[f.name]):
            raise ConfigError(f"payload[{f.name!r}]", payload[f.name], f"{why} ({f.type} field of {schema})")
        else:
            out[f.name] = payload[f.name]
    return out


def decode(reader: Schema, writer: Schema, payload: dict[str, Any]) -> dict[str, Any]:
    """What a consumer using ``reader`` gets from ``payload`` written with ``writer`` (Avro resolution).

    Fields the reader does not know are dropped, fields the data lacks get the reader's
    default, and an int written where the reader wants a double becomes a float. A field
    the reader needs but cannot get raises :class:`DeserializationError` naming it.
    """
    problems = can_read(reader, writer)
    if problems:
        raise DeserializationError(f"cannot read {writer} data as {reader}: " + "; ".join(problems))
    out: dict[str, Any] = {}
    for f in reader.fields:
        if writer.field(f.name) is not None and f.name in payload:
            value = payload[f.name]
            out[f.name] = float(value) if f.type == "double" else value
        elif f.optional:
            out[f.name] = f.default
        else:
            raise DeserializationError(f"cannot read {writer} data as {reader}: the data lacks the required "
                                       f"field {f.name!r}")
    return out


def contract_check(consumer_schemas: dict[str, Schema], producer_schema: Schema) -> dict[str, list[str]]:
    """The check a team can run in CI before shipping a producer change: for each consumer (by name), the
    problems it would have reading data written with ``producer_schema``. All lists empty: safe to ship."""
    return {name: can_read(schema, producer_schema) for name, schema in consumer_schemas.items()}
