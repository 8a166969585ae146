"""Schema drift: a producer changes its event's shape, and consumers that were not told.

The payment service publishes ``PaymentReceived`` events; version 1 has the fields
``user`` (string), ``amount`` (long, cents) and ``currency`` (string), all required.
Part-way through the run (``change_at`` ms) its team changes the schema
(:func:`schema_change`):

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
shipping: each consumer's reader schema against the new writer schema.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pandas as pd

from .. import checks
from ..broker import Broker, Record
from ..consumer import Consumer, Context
from ..distributions import DistributionLike, as_distribution, exponential
from ..dlq import dead_letter_topic_for, unfinished, with_retries
from ..errors import ConfigError
from ..groups import ConsumerGroup
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
from ..world import World, check_seed
from ._common import check_choice, check_count, check_positive
from .consume import until_drained

__all__ = ["DESIGNS", "REGISTRIES", "UPGRADE_ORDERS", "schema_change", "schema_contract_check", "schema_drift"]

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


def schema_drift(
    change: str,
    registry: str | None = None,
    seed: int = 0,
    *,
    messages: int = 150,
    upgrade_order: str | None = None,
    change_at: float | None = None,
    upgrade_lag: float | None = None,
    partitions: int = 1,
    arrival_interval: DistributionLike | None = None,
    processing_time: DistributionLike = 1,
    max_time: float = 60_000,
) -> RunResult:
    """Run ``messages`` payments while the producer makes ``change`` to their schema under ``registry``.

    ``change`` is one of :data:`DESIGNS`; ``registry`` is one of :data:`REGISTRIES`
    (``None`` for no registry; any letter case); ``upgrade_order`` one of
    :data:`UPGRADE_ORDERS`, or ``None`` for the order the mode prescribes.
    ``arrival_interval`` defaults to exponential with mean 10 ms; ``change_at`` and
    ``upgrade_lag`` default to a third of the time the messages take to arrive.

    Report fields: ``produced``, ``processed`` (events billing decoded and handled),
    ``decode_failures`` (events billing could not decode), ``dead_lettered`` (events
    parked on the dead-letter topic), ``lost`` (neither handled nor parked),
    ``rejected_registrations`` (schema versions the registry refused),
    ``registered_versions`` (versions it accepted, v1 included), ``shipped`` (1 if
    version 2 went into use), ``duration`` (ms) and ``drained``.
    """
    check_choice("change", change, DESIGNS)
    mode = None
    if registry is not None:
        try:
            mode = Compatibility.parse(registry) if isinstance(registry, (str, Compatibility)) else None
        except ConfigError:
            mode = None
        if mode is None:
            raise ConfigError("registry", registry, REGISTRIES)
    if upgrade_order is None:
        upgrade_order = "consumers_first" if mode is not None and mode.value.startswith("BACKWARD") \
            else "producer_first"
    check_choice("upgrade_order", upgrade_order, UPGRADE_ORDERS)
    messages = check_count("messages", messages)
    seed = check_seed(seed)
    partitions = check_count("partitions", partitions, 1, 64)
    max_time = check_positive("max_time", max_time)
    arrivals = as_distribution("arrival_interval", exponential(10) if arrival_interval is None else arrival_interval)
    span = messages * arrivals.mean
    change_at = span / 3 if change_at is None else check_positive("change_at", change_at, allow_zero=True)
    upgrade_lag = span / 3 if upgrade_lag is None else check_positive("upgrade_lag", upgrade_lag, allow_zero=True)
    params: dict[str, Any] = dict(
        change=change, registry=None if mode is None else mode.value, messages=messages,
        upgrade_order=upgrade_order, change_at=change_at, upgrade_lag=upgrade_lag, partitions=partitions,
        arrival_interval=arrivals, processing_time=processing_time, max_time=max_time)

    world = World(seed)
    env = world.env
    broker = Broker(world)
    broker.create_topic(TOPIC, partitions)
    broker.create_topic(DLQ, partitions)
    producer = Producer(world, broker, "payments", partitioner="key")
    v1, v2 = schema_change(change)
    reg = SchemaRegistry(mode) if mode is not None else None
    if reg is not None:
        reg.register(SUBJECT, v1)
        v1 = reg.get(SUBJECT, 1)
        world.record("registry", "schema_registered", topic=TOPIC, detail=f"{SUBJECT} v1 ({mode.value})")
    else:
        v1 = replace(v1, version=1)
    known = {1: v1}  # without a registry: the versions the self-describing payloads name
    writer, reader = [v1], [v1]

    def writer_schema(version: int) -> Schema:
        return reg.get(SUBJECT, version) if reg is not None else known[version]

    def bill(record: Record, ctx: Context) -> None:
        written = writer_schema(record.value[VERSION_KEY])
        try:
            decode(reader[0], written, record.value)
        except DeserializationError as exc:
            ctx.record("decode_failed", record, detail=str(exc))
            raise
        ctx.record("side_effect", record, detail=f"read v{written.version} data with v{reader[0].version}")

    dlq_producer = Producer(world, broker, "billing-dlq", partitioner="key")
    group = ConsumerGroup(world, broker, GROUP, session_timeout=300)
    members = [Consumer(world, broker, f"billing-{i}", TOPIC, with_retries(bill, producer=dlq_producer),
                        group=group, commit="after_processing", processing_time=processing_time,
                        auto_offset_reset="earliest", on_error="crash")
               for i in range(partitions)]

    def rollout():  # type: ignore[no-untyped-def]
        yield env.timeout(change_at)
        new = v2
        if reg is not None:
            try:
                version = reg.register(SUBJECT, v2)
            except IncompatibleSchema as exc:
                world.record("registry", "schema_rejected", topic=TOPIC,
                             detail=f"{SUBJECT} ({exc.mode.value}): {exc.problems[0]}")
                return
            new = reg.get(SUBJECT, version)
            world.record("registry", "schema_registered", topic=TOPIC, detail=f"{SUBJECT} v{version} ({mode.value})")
        else:
            new = known[2] = replace(v2, version=2)
        sides = [(writer, "payments writes"), (reader, "billing reads")]
        if upgrade_order == "consumers_first":
            sides.reverse()
        for i, (side, who) in enumerate(sides):
            if i:
                yield env.timeout(upgrade_lag)
            side[0] = new
            world.record("operator", "deployed", topic=TOPIC, detail=f"{who} v{new.version} ({change})")

    sent = env.event()

    def payments():  # type: ignore[no-untyped-def]
        rng, who, how = world.rng("arrivals"), world.rng("payload/users"), world.rng("payload/amounts")
        for i in range(messages):
            yield env.timeout(arrivals.sample(rng))
            user = f"user-{who.randrange(20)}"
            cents = how.randint(100, 20_000)
            values = {"user": user, "amount": cents, "amount_cents": cents, "currency": "EUR",
                      "coupon": "", "channel": "web"}
            schema = writer[0]
            producer.send(TOPIC, encode(schema, {f.name: values[f.name] for f in schema.fields}), key=user,
                          msg_id=i)
        sent.succeed()

    env.process(rollout())
    env.process(payments())
    drained = until_drained(world, broker, group, members, sent)
    world.run(until=drained | env.timeout(max_time))

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
    return RunResult("schema_drift", seed, params, Report(**fields),
                     {"decode_failures": decode_check, "lost": lost, "stuck": stuck}, {}, world.trace)
