"""Schema drift: a producer changes its event's shape, and consumers that were not told.

The payment service publishes ``PaymentReceived`` events; version 1 has the fields
``user`` (string), ``amount`` (long, cents) and ``currency`` (string), all required.
Part-way through the run (``change_at`` ms) its team changes the schema as the
``design`` says (:func:`schema_change`):

========================  ===================================================================
``"add_optional_field"``  adds ``coupon`` (string, default ``""``)
``"add_required_field"``  adds ``channel`` (string, no default)
``"remove_field"``        removes ``currency``
``"rename_field"``        renames ``amount`` to ``amount_cents`` (a delete plus an add)
========================  ===================================================================

The ``billing`` consumer group reads every event with *its* schema version and
resolves it against the writer's (:func:`~simkit.schemas.decode`, Avro's rules). What
it cannot decode raises :class:`~simkit.schemas.DeserializationError`, which its
:func:`~simkit.dlq.with_retries` handler never retries: the record goes to
``payments.DLT`` at once and the partition moves on.

The two sides do not upgrade at the same moment: ``upgrade_order="producer_first"``
switches the producer to version 2 at ``change_at`` and the consumers ``upgrade_lag``
ms later; ``"consumers_first"`` the other way round. Confluent ties each compatibility
mode to an order: ``BACKWARD`` means *upgrade consumers first* (a new reader must read
old data), ``FORWARD`` *producers first* (an old reader must read new data), ``FULL``
either. By default (``upgrade_order=None``) the teams follow the order of the
registry's mode, and without a registry the producer simply ships first.

``registry``: ``None`` (no registry: nothing stops the change), or a Confluent mode
(:data:`REGISTRIES`: ``NONE`` checks nothing; the ``*_TRANSITIVE`` modes compare with
every earlier version, which with only two versions is the same as the plain mode).
Version 1 is registered under the subject ``payments-value`` (Confluent's
``TopicNameStrategy``) at the start; at ``change_at`` version 2 is registered first. A
refused registration (``schema_rejected`` in the trace) means neither side changes, so
nothing breaks; an accepted one (``schema_registered``) is rolled out. Without a
registry the payload still names the version that wrote it (as a self-describing
format would), so a consumer knows which fields were written.

:func:`schema_contract_check` is the check a producer team can run in CI before
shipping: each consumer's reader schema against the new writer schema. Neither it nor
:func:`schema_change` is a scenario: import them from this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Generator

import pandas as pd
import simpy

from .. import checks
from ..broker import Broker, Record
from ..consumer import Consumer, Context
from ..distributions import exponential
from ..dlq import dead_letter_topic_for, unfinished, with_retries
from ..errors import ConfigError
from ..glossary import register
from ..groups import ConsumerGroup
from ..params import Params, check_choice, count, distribution, ms, optional_ms
from ..producer import Producer
from ..results import Report, RunResult
from ..schemas import (
    VERSION_KEY,
    Compatibility,
    DeserializationError,
    Field,
    IncompatibleSchema,
    Schema,
    SchemaRegistry,
    contract_check,
    decode,
    encode,
)
from ..world import World
from ._common import MAX_DRAIN_MS, client_param, until_drained
from .registry import scenario

__all__ = [
    "DESIGNS", "REGISTRIES", "UPGRADE_ORDERS", "Billing", "SchemaDriftParams", "Versions", "payments", "rollout",
    "schema_change", "schema_contract_check", "schema_drift",
]

DESIGNS: tuple[str, ...] = ("add_optional_field", "add_required_field", "remove_field", "rename_field")
REGISTRIES: tuple[str | None, ...] = (None,) + tuple(m.value for m in Compatibility)
UPGRADE_ORDERS: tuple[str, ...] = ("producer_first", "consumers_first")

TOPIC = "payments"
DLQ = dead_letter_topic_for(TOPIC)
GROUP = "billing"
SUBJECT = f"{TOPIC}-value"

V1 = Schema("PaymentReceived", (Field("user", "string"), Field("amount", "long"), Field("currency", "string")))


def schema_change(change: str) -> tuple[Schema, Schema]:
    """The payment event's version 1 and the unregistered version 2 that ``change`` makes."""
    check_choice("change", change, DESIGNS)
    if change == "add_optional_field":
        v2 = V1.add_field(Field("coupon", "string", ""))
    elif change == "add_required_field":
        v2 = V1.add_field(Field("channel", "string"))
    elif change == "remove_field":
        v2 = V1.remove_field("currency")
    else:
        v2 = V1.rename_field("amount", "amount_cents")
    return V1, v2


def schema_contract_check(change: str | None = None) -> pd.DataFrame:
    """The CI contract check for ``change`` (or for every change): can the consumers still read v2?

    Each consumer states the schema it reads with (here ``billing``, still on version
    1); :func:`~simkit.schemas.contract_check` lists what would stop it from decoding
    data the new producer writes. One row per change: ``change``, ``consumer``,
    ``passes`` (True when the build may ship) and ``problems``.
    """
    rows = []
    for c in DESIGNS if change is None else (change,):
        v1, v2 = schema_change(c)
        for consumer, problems in contract_check({"billing (reads v1)": v1}, v2).items():
            rows.append({"change": c, "consumer": consumer, "passes": not problems,
                         "problems": "; ".join(problems)})
    return pd.DataFrame(rows)


def _check_registry(param: str, value: Any) -> str | None:
    """None (no registry), or a Confluent compatibility mode in any letter case, as its canonical name."""
    if value is None:
        return None
    try:
        mode = Compatibility.parse(value) if isinstance(value, (str, Compatibility)) else None
    except ConfigError:
        mode = None
    if mode is None:
        raise ConfigError(param, value, REGISTRIES)
    return mode.value


def _check_order(param: str, value: Any) -> str | None:
    return None if value is None else check_choice(param, value, UPGRADE_ORDERS)


@dataclass(frozen=True)
class SchemaDriftParams(Params):
    """The parameters of :func:`schema_drift` (times in ms)."""

    registry: str | None = field(default=None, metadata={"check": _check_registry, "doc": "None or a mode"})
    messages: int = count(150, high=100_000, doc="payments sent")
    upgrade_order: str | None = field(default=None, metadata={
        "check": _check_order, "doc": "who upgrades first; None: the order the registry's mode prescribes"})
    change_at: float | None = optional_ms(None, doc="the change is registered and rolled out; None: a third in")
    upgrade_lag: float | None = optional_ms(None, doc="between the two sides' upgrades; None: a third of the run")
    partitions: int = count(1, high=64, doc="partitions of the payments topic (one billing consumer each)")
    arrival_interval: Any = distribution(exponential(10), doc="time between two payments")
    processing_time: Any = distribution(1, doc="billing's work per payment")
    max_time: float = ms(60_000, strict=True, high=MAX_DRAIN_MS, doc="the run stops here if not drained")
    client: str = client_param()

    def check(self) -> None:
        self.times()

    def order(self) -> str:
        """``upgrade_order``, or the order the registry's mode prescribes (BACKWARD: consumers first)."""
        if self.upgrade_order is not None:
            return self.upgrade_order
        return "consumers_first" if self.registry is not None and self.registry.startswith("BACKWARD") \
            else "producer_first"

    def times(self) -> tuple[float, float]:
        """``change_at`` and ``upgrade_lag`` with their defaults resolved (ms)."""
        mean = getattr(self.arrival_interval, "mean", None)
        if (self.change_at is None or self.upgrade_lag is None) and not isinstance(mean, (int, float)):
            raise ConfigError("change_at", self.change_at, "a time in ms, since arrival_interval has no mean")
        span = self.messages * mean if isinstance(mean, (int, float)) else 0.0
        return (span / 3 if self.change_at is None else self.change_at,
                span / 3 if self.upgrade_lag is None else self.upgrade_lag)


FIELDS = (
    "produced", "processed", "decode_failures", "dead_lettered", "lost", "rejected_registrations",
    "registered_versions", "shipped", "duration", "drained",
)
register("decode_failures", "messages", "messages a consumer could not decode with its schema")
register("rejected_registrations", "versions", "schema versions the registry refused")
register("registered_versions", "versions", "schema versions the registry accepted")
register("shipped", "0/1", "1 if the new schema version went into use")


@scenario("schema_drift", designs=DESIGNS, params=SchemaDriftParams, fields=FIELDS, lesson="07",
          renamed={"change": "design"}, legacy_positional=("design", "registry", "seed"))
def schema_drift(p: SchemaDriftParams) -> RunResult:
    """Run ``messages`` payments while the producer makes the change ``design`` to their schema under ``registry``.

    ``design`` is one of :data:`DESIGNS` (the old keyword ``change=`` still works, with a
    warning); ``registry`` is one of :data:`REGISTRIES` (``None`` for no registry; any
    letter case); ``upgrade_order`` one of :data:`UPGRADE_ORDERS`, or ``None`` for the
    order the mode prescribes. ``arrival_interval`` defaults to exponential with mean
    10 ms; ``change_at`` and ``upgrade_lag`` default to a third of the time the messages
    take to arrive. ``params`` holds the resolved values.

    Report fields (see :mod:`simkit.glossary`): ``produced``, ``processed`` (events
    billing decoded and handled), ``decode_failures`` (events billing could not decode),
    ``dead_lettered`` (events parked on the dead-letter topic), ``lost`` (neither
    handled nor parked), ``rejected_registrations`` (schema versions the registry
    refused), ``registered_versions`` (versions it accepted, v1 included), ``shipped``
    (1 if version 2 went into use), ``duration`` (ms) and ``drained``. Checks:
    ``decode_failures``, ``lost``, ``stuck``.
    """
    # build: the payments topic and its dead-letter topic, the registry with version 1
    world = World(p.seed)
    env = world.env
    broker = Broker(world)
    broker.create_topic(TOPIC, p.partitions)
    broker.create_topic(DLQ, p.partitions)
    producer = Producer(world, broker, "payments", client=p.client)
    v1, v2 = schema_change(p.design)
    versions = Versions(world, SchemaRegistry(p.registry) if p.registry is not None else None, v1)

    # wire: one billing consumer a partition, dead-lettering what it cannot decode
    dlq_producer = Producer(world, broker, "billing-dlq", client=p.client)
    group = ConsumerGroup(world, broker, GROUP, session_timeout=300)
    members = [Consumer(world, broker, f"billing-{i}", TOPIC, with_retries(Billing(versions), producer=dlq_producer),
                        client=p.client, group=group, commit="after_processing", processing_time=p.processing_time,
                        auto_offset_reset="earliest", on_error="crash")
               for i in range(p.partitions)]

    # run: the payments flow while the teams roll the change out
    sent = env.event()
    env.process(rollout(world, versions, v2, p))
    env.process(payments(world, producer, versions, sent, p))
    drained = until_drained(world, broker, group, members, sent)
    world.run(until=drained | env.timeout(p.max_time))

    # check: everything below reads the trace
    trace = world.trace.to_frame()
    events = trace["event"]
    lost, stuck = unfinished(trace, TOPIC, done=("side_effect", "dead_lettered"), group=GROUP)
    failed = trace.loc[events == "decode_failed", "msg_id"].drop_duplicates()
    dead = trace.loc[events == "dead_lettered", "msg_id"].drop_duplicates()
    deployed = trace[(events == "deployed") & trace["detail"].astype(str).str.startswith("payments writes")]
    fields: dict[str, float] = dict(
        produced=int(trace.loc[(events == "send") & (trace["topic"] == TOPIC), "msg_id"].nunique()),
        processed=int(trace.loc[events == "side_effect", "msg_id"].nunique()),
        decode_failures=int(failed.size),
        dead_lettered=int(dead.size),
        lost=lost.count,
        rejected_registrations=int((events == "schema_rejected").sum()),
        registered_versions=int((events == "schema_registered").sum()),
        shipped=int(len(deployed) > 0),
        duration=float(env.now),
        drained=int(drained.triggered),
    )
    decode_check = checks.Check("decode_failures", int(failed.size), tuple(failed.head(checks.EXAMPLES)),
                                "billing could not read these with its schema")
    change_at, upgrade_lag = p.times()
    params = {**p.to_dict(), "upgrade_order": p.order(), "change_at": change_at, "upgrade_lag": upgrade_lag}
    return RunResult("schema_drift", p.seed, params, Report(**fields),
                     {"decode_failures": decode_check, "lost": lost, "stuck": stuck}, {}, world.trace)


class Versions:
    """Which schema version each side uses now, and where a reader finds the version that wrote a record.

    With a registry, version 1 is registered under :data:`SUBJECT` at the start and a
    record's writer schema is looked up there; without one, the self-describing payload
    names its version and :attr:`known` holds the versions shipped so far.
    """

    def __init__(self, world: World, registry: SchemaRegistry | None, v1: Schema):
        self.registry = registry
        if registry is not None:
            registry.register(SUBJECT, v1)
            v1 = registry.get(SUBJECT, 1)
            world.record("registry", "schema_registered", topic=TOPIC,
                         detail=f"{SUBJECT} v1 ({registry.compatibility.value})")
        else:
            v1 = replace(v1, version=1)
        self.known = {1: v1}
        self.writer = v1
        self.reader = v1

    def writer_schema(self, version: int) -> Schema:
        """The schema that wrote a record of ``version``."""
        return self.registry.get(SUBJECT, version) if self.registry is not None else self.known[version]


class Billing:
    """The billing consumers' handler: decode each payment with the reader's schema, or fail to."""

    def __init__(self, versions: Versions):
        self.versions = versions
        self.__name__ = "bill"  # what error messages call the handler

    def __call__(self, record: Record, ctx: Context) -> None:
        written = self.versions.writer_schema(record.value[VERSION_KEY])
        reader = self.versions.reader
        try:
            decode(reader, written, record.value)
        except DeserializationError as exc:
            ctx.record("decode_failed", record, detail=str(exc))
            raise
        ctx.record("side_effect", record, detail=f"read v{written.version} data with v{reader.version}")


def rollout(world: World, versions: Versions, v2: Schema, p: SchemaDriftParams) -> Generator[simpy.Event, Any, None]:
    """The teams: at ``change_at`` register version 2 (if there is a registry), then upgrade each side in order."""
    env = world.env
    change_at, upgrade_lag = p.times()
    yield env.timeout(change_at)
    reg = versions.registry
    if reg is not None:
        try:
            version = reg.register(SUBJECT, v2)
        except IncompatibleSchema as exc:
            world.record("registry", "schema_rejected", topic=TOPIC,
                         detail=f"{SUBJECT} ({exc.mode.value}): {exc.problems[0]}")
            return
        new = reg.get(SUBJECT, version)
        world.record("registry", "schema_registered", topic=TOPIC,
                     detail=f"{SUBJECT} v{version} ({reg.compatibility.value})")
    else:
        new = versions.known[2] = replace(v2, version=2)
    sides = [("writer", "payments writes"), ("reader", "billing reads")]
    if p.order() == "consumers_first":
        sides.reverse()
    for i, (side, who) in enumerate(sides):
        if i:
            yield env.timeout(upgrade_lag)
        setattr(versions, side, new)
        world.record("operator", "deployed", topic=TOPIC, detail=f"{who} v{new.version} ({p.design})")


def payments(world: World, producer: Producer, versions: Versions, sent: simpy.Event,
             p: SchemaDriftParams) -> Generator[simpy.Event, Any, None]:
    """The payment service: ``messages`` payments, each encoded with the schema the producer writes now."""
    env = world.env
    rng, who, how = world.rng("arrivals"), world.rng("payload/users"), world.rng("payload/amounts")
    for i in range(p.messages):
        yield env.timeout(p.arrival_interval.sample(rng))
        user = f"user-{who.randrange(20)}"
        cents = how.randint(100, 20_000)
        values = {"user": user, "amount": cents, "amount_cents": cents, "currency": "EUR",
                  "coupon": "", "channel": "web"}
        schema = versions.writer
        producer.send(TOPIC, encode(schema, {f.name: values[f.name] for f in schema.fields}), key=user, msg_id=i)
    sent.succeed()
