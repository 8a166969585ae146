"""Versioned event schemas and a schema registry, with Confluent Schema Registry's compatibility modes.

A schema lists the fields of an event; a field with a default is optional. Whether a
consumer can read an event follows Avro's schema-resolution rules (restricted to flat
records): every field the *reader* expects must either be written by the *writer*
(with the same type, or one Avro promotes: int -> long -> float -> double, string <->
bytes) or have a default; fields the reader does not know are skipped.

The registry's modes are Confluent's (``io.confluent.kafka.schemaregistry.CompatibilityLevel``):

=====================  ===========================================================
``BACKWARD`` (default) consumers on the new schema can read data written with the last one
``FORWARD``            consumers on the last schema can read data written with the new one
``FULL``               both
``*_TRANSITIVE``       the same, against every earlier version, not only the last
``NONE``               no check
=====================  ===========================================================

So BACKWARD allows deleting fields and adding optional ones; FORWARD allows adding
fields and deleting optional ones; FULL allows only adding or deleting optional ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from .errors import ConfigError, SimkitError

__all__ = [
    "COMPATIBILITY_MODES", "DeserializationError", "Field", "IncompatibleSchema", "Schema", "SchemaRegistry",
    "can_read", "contract_check", "decode", "encode",
]

TYPES = ("string", "bytes", "int", "long", "float", "double", "boolean")
# Avro's promotions: what a reader of the key type accepts from a writer
_READS = {
    "string": {"string", "bytes"}, "bytes": {"bytes", "string"}, "int": {"int"}, "long": {"int", "long"},
    "float": {"int", "long", "float"}, "double": {"int", "long", "float", "double"}, "boolean": {"boolean"},
}
_PY = {"string": str, "bytes": bytes, "int": int, "long": int, "float": (int, float), "double": (int, float),
       "boolean": bool}
COMPATIBILITY_MODES = ("BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL",
                       "FULL_TRANSITIVE", "NONE")
_NO_DEFAULT: Any = object()


class IncompatibleSchema(SimkitError):
    """The registry refused a schema: it breaks compatibility in the subject's mode."""

    def __init__(self, subject: str, mode: str, problems: list[str]):
        self.subject, self.mode, self.problems = subject, mode, problems
        super().__init__(f"schema for {subject!r} refused under {mode}: " + "; ".join(problems))


class DeserializationError(SimkitError):
    """A consumer could not read an event with its schema (a field it needs is missing)."""


@dataclass(frozen=True)
class Field:
    """One field of an event: a name, an Avro primitive type and, if optional, a default."""

    name: str
    type: str = "string"
    default: Any = _NO_DEFAULT

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise ConfigError("type", self.type, TYPES)

    @property
    def optional(self) -> bool:
        return self.default is not _NO_DEFAULT

    def __repr__(self) -> str:
        extra = f", default={self.default!r}" if self.optional else ""
        return f"Field({self.name!r}, {self.type!r}{extra})"


@dataclass(frozen=True)
class Schema:
    """An event's shape: its name and fields. Changes return a new schema (the old one stays)."""

    name: str
    fields: tuple[Field, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        names = [f.name for f in self.fields]
        if len(set(names)) != len(names):
            raise ConfigError("fields", names, "field names without repeats")

    def field(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)

    def add_field(self, new: Field) -> "Schema":
        return replace(self, fields=self.fields + (new,))

    def remove_field(self, name: str) -> "Schema":
        if self.field(name) is None:
            raise ConfigError("name", name, [f.name for f in self.fields])
        return replace(self, fields=tuple(f for f in self.fields if f.name != name))

    def rename_field(self, old: str, new: str) -> "Schema":
        if self.field(old) is None:
            raise ConfigError("old", old, [f.name for f in self.fields])
        return replace(self, fields=tuple(replace(f, name=new) if f.name == old else f for f in self.fields))


def can_read(reader: Schema, writer: Schema) -> list[str]:
    """What stops a consumer on ``reader`` from reading data written with ``writer`` (empty: nothing)."""
    problems = []
    for f in reader.fields:
        w = writer.field(f.name)
        if w is None:
            if not f.optional:
                problems.append(f"reader needs field {f.name!r}, which the writer does not write and which has "
                                "no default")
        elif w.type not in _READS[f.type]:
            problems.append(f"field {f.name!r} is written as {w.type} and read as {f.type}")
    return problems


def _problems(mode: str, new: Schema, history: list[Schema]) -> list[str]:
    if mode == "NONE" or not history:
        return []
    against = history if mode.endswith("_TRANSITIVE") else history[-1:]
    base = mode.replace("_TRANSITIVE", "")
    out = []
    for i, old in enumerate(against):
        version = (len(history) - len(against)) + i + 1
        if base in ("BACKWARD", "FULL"):
            out += [f"new schema cannot read v{version} data: {p}" for p in can_read(new, old)]
        if base in ("FORWARD", "FULL"):
            out += [f"v{version} consumers cannot read new data: {p}" for p in can_read(old, new)]
    return out


class SchemaRegistry:
    """Subjects with versioned schemas; a new version is checked against the subject's mode first."""

    def __init__(self, compatibility: str = "BACKWARD"):
        self.compatibility = self._mode(compatibility)
        self._subjects: dict[str, list[Schema]] = {}
        self._modes: dict[str, str] = {}

    @staticmethod
    def _mode(mode: str) -> str:
        if mode not in COMPATIBILITY_MODES:
            raise ConfigError("compatibility", mode, COMPATIBILITY_MODES)
        return mode

    def set_compatibility(self, mode: str, subject: str | None = None) -> None:
        """Set the global mode, or one subject's."""
        if subject is None:
            self.compatibility = self._mode(mode)
        else:
            self._modes[subject] = self._mode(mode)

    def mode(self, subject: str) -> str:
        return self._modes.get(subject, self.compatibility)

    def check(self, subject: str, schema: Schema) -> list[str]:
        """The problems registering ``schema`` would meet (empty: it would be accepted)."""
        return _problems(self.mode(subject), schema, self._subjects.get(subject, []))

    def register(self, subject: str, schema: Schema) -> int:
        """Register ``schema`` and return its version (from 1); the same schema again keeps its version."""
        versions = self._subjects.setdefault(subject, [])
        if schema in versions:
            return versions.index(schema) + 1
        problems = self.check(subject, schema)
        if problems:
            raise IncompatibleSchema(subject, self.mode(subject), problems)
        versions.append(schema)
        return len(versions)

    def versions(self, subject: str) -> list[int]:
        return list(range(1, len(self._subjects.get(subject, [])) + 1))

    def get(self, subject: str, version: int) -> Schema:
        try:
            return self._subjects[subject][version - 1]
        except (KeyError, IndexError):
            raise ConfigError("version", version, f"one of {self.versions(subject)} for {subject!r}") from None

    def latest(self, subject: str) -> Schema:
        if not self._subjects.get(subject):
            raise ConfigError("subject", subject, sorted(self._subjects) or "a subject registered first")
        return self._subjects[subject][-1]


def encode(schema: Schema, payload: dict[str, Any]) -> dict[str, Any]:
    """Check ``payload`` against ``schema`` and return what goes on the wire (fields the schema knows)."""
    out = {}
    for f in schema.fields:
        if f.name in payload:
            if not isinstance(payload[f.name], _PY[f.type]) or (f.type != "boolean" and isinstance(payload[f.name], bool)):
                raise ConfigError(f"payload[{f.name!r}]", payload[f.name], f"a {f.type}")
            out[f.name] = payload[f.name]
        elif f.optional:
            out[f.name] = f.default
        else:
            raise ConfigError("payload", payload, f"a value for the required field {f.name!r}")
    return out


def decode(reader: Schema, writer: Schema, data: dict[str, Any]) -> dict[str, Any]:
    """What a consumer on ``reader`` sees of ``data`` written with ``writer`` (Avro resolution)."""
    problems = can_read(reader, writer)
    if problems:
        raise DeserializationError(f"{reader.name}: " + "; ".join(problems))
    return {f.name: data[f.name] if writer.field(f.name) is not None else f.default for f in reader.fields}


def contract_check(consumers: dict[str, Schema], producer: Schema) -> dict[str, list[str]]:
    """The CI check: for each consumer (by name), what stops it reading the producer's schema."""
    return {name: can_read(schema, producer) for name, schema in consumers.items()}
