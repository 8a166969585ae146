"""Exercise 06: evolve a schema (lesson 07), graded by the registry's answers and by a consumer reading both versions.

The learner's cell defines, with :mod:`simkit.schemas` (``Schema``, ``Field``, ``decode``):

* ``V2``: ``PaymentReceived`` v2, which keeps v1's fields and adds ``channel``
  (string, default ``"unknown"``); a :class:`~simkit.schemas.SchemaRegistry` in
  ``BACKWARD`` mode must accept it after :data:`V1` (Confluent's default mode:
  upgrade consumers first, so the new reader must read old data);
* ``V2_NOT_FULL``: another v2 that ``BACKWARD`` accepts and ``FULL`` refuses (old
  readers could not read its data);
* ``read(payload, writer)``: the billing consumer, upgraded first, turns one event
  written with ``writer`` (v1 or ``V2``) into ``(user, amount, channel)``.

During the rollout the app still writes v1 while the web shop writes ``V2``; one
consumer reads both. Totals per channel (cents) are checked against what was sent,
with v1 payments under ``"unknown"``. A ``read`` that raises sends the record to the
dead letters (``dead_letter`` in the trace) and the consumer moves on.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import pandas as pd

from ...broker import Broker
from ...consumer import Consumer
from ...errors import ConfigError
from ...groups import until_drained
from ...producer import Producer
from ...scenarios.schema_drift import V1
from ...schemas import VERSION_KEY, Field, Schema, SchemaRegistry, encode
from ..faults import LearnerFault, call
from ..spec import Anomaly, Case, Criterion, Exercise, register

__all__ = ["CHANNELS", "DEFAULT_CHANNEL", "EXERCISE", "V1", "anomalies", "explain", "registry_answers", "simulate"]

TOPIC, SUBJECT = "payments", "payments-value"
CHANNELS: tuple[str, ...] = ("web", "shop")
DEFAULT_CHANNEL = "unknown"
WANTED = Field("channel", "string", DEFAULT_CHANNEL)


def _schema(namespace: Mapping[str, Any], name: str) -> tuple[Schema | None, str]:
    value = namespace.get(name)
    if value is None:
        return None, f"your cell defines no {name}"
    if not isinstance(value, Schema):
        return None, f"{name} is {value!r}, not a sk.schemas.Schema"
    return value, ""


def _register(mode: str, schema: Schema) -> list[str]:
    """The problems a registry in ``mode`` finds registering ``schema`` after v1 (empty: accepted)."""
    registry = SchemaRegistry(mode)
    registry.register(SUBJECT, V1)
    return registry.check(SUBJECT, schema)


def registry_answers(v2: Schema | None, not_full: Schema | None) -> dict[str, Any]:
    """What BACKWARD and FULL registries say to ``V2`` and ``V2_NOT_FULL``, and how ``V2`` differs from v1."""
    out: dict[str, Any] = {}
    if v2 is not None:
        keeps = [f.name for f in V1.fields if v2.field(f.name) != f]
        extra = [f.name for f in v2.fields if V1.field(f.name) is None and f.name != "channel"]
        out["v2"] = {"backward": _register("BACKWARD", v2), "keeps_v1": keeps, "channel": repr(v2.field("channel")),
                         "name": v2.name, "extra": extra}
    if not_full is not None:
        out["not_full"] = {"backward": _register("BACKWARD", not_full), "full": _register("FULL", not_full),
                               "same_as_v1": not_full == V1}
    return out


def _fields(schema: Schema, fields: Mapping[str, Any]) -> dict[str, Any]:
    """The ``fields`` ``schema`` has: what a producer using it writes."""
    return {k: v for k, v in fields.items() if schema.field(k) is not None}


def simulate(run: Any) -> dict:
    """The registry's answers, then a rollout: the app writes v1, the web shop ``V2``, one consumer reads both."""
    world, wl = run.world, run.workload
    env = world.env
    read = run.learner.fresh()
    namespace = inspect.unwrap(read).__globals__ if hasattr(inspect.unwrap(read), "__globals__") else {}
    v2, v2_why = _schema(namespace, "V2")
    not_full, not_full_why = _schema(namespace, "V2_NOT_FULL")
    state: dict[str, Any] = {"answers": registry_answers(v2, not_full), "v2_why": v2_why, "not_full_why": not_full_why,
                                 "sent": {}, "drained": True}
    if v2 is None or state["answers"]["v2"]["backward"]:
        return state  # the web shop cannot roll out a v2 the registry refused
    registry = SchemaRegistry("BACKWARD")
    writers = {1: registry.get(SUBJECT, registry.register(SUBJECT, V1))}
    writers[2] = registry.get(SUBJECT, registry.register(SUBJECT, v2))
    try:  # a V2 whose channel is not a string (say) cannot carry the web shop's payments
        encode(writers[2], _fields(writers[2], {"user": "user-0", "amount": 100, "currency": "EUR",
                                                "channel": CHANNELS[0]}))
    except ConfigError as why:
        state["cannot_write"] = str(why)
        return state
    broker = Broker(world)
    broker.create_topic(TOPIC, 1)
    producer = Producer(world, broker, "payments", partitioner="key")
    pick = world.rng("arrivals/who")
    sent: dict[str, list] = {}

    def handler(rec: Any) -> None:
        writer = writers[rec.value[VERSION_KEY]]
        run.faults.current = rec.msg_id
        try:
            got = call(read, run.faults, "read", dict(rec.value), writer)
        except LearnerFault as why:  # the record goes to the dead letters; the partition moves on
            world.record("billing", "dead_letter", key=rec.key, msg_id=rec.msg_id, detail=str(why)[:200])
            return
        if not (isinstance(got, tuple) and len(got) == 3):
            world.record("billing", "dead_letter", key=rec.key, msg_id=rec.msg_id,
                         detail=f"read returned {got!r}, not a (user, amount, channel) tuple"[:200])
            return
        world.record("billing", "counted", key=rec.key, msg_id=rec.msg_id, detail=repr(got)[:200])

    consumer = Consumer(world, broker, "billing", TOPIC, handler, group="billing", commit="after_processing",
                        processing_time=1, auto_offset_reset="earliest")
    done = env.event()

    def rollout() -> Any:
        gaps = world.rng("arrivals")
        for i in range(int(wl.get("payments", 30))):
            yield env.timeout(gaps.expovariate(0.1))
            user, amount = f"user-{pick.randrange(8)}", pick.randrange(100, 10_000)
            version, channel = (2, CHANNELS[pick.randrange(2)]) if pick.random() < 0.5 else (1, DEFAULT_CHANNEL)
            fields = {"user": user, "amount": amount, "currency": "EUR", "channel": channel}
            payload = encode(writers[version], _fields(writers[version], fields))
            sent[f"p-{i}"] = [user, amount, channel, version]
            producer.send(TOPIC, payload, key=user, msg_id=f"p-{i}")
        done.succeed()

    env.process(rollout())
    drained = until_drained(world, broker, consumer.group, [consumer], done)
    world.run(until=drained | env.timeout(120_000), wall_limit=None)
    state.update(sent=sent, drained=drained.triggered)
    return state


def _schema_anomalies(state: dict) -> dict[str, Anomaly]:
    out: dict[str, Anomaly] = {}
    answers = state["answers"]
    if "v2" not in answers:
        out["no_v2"] = Anomaly(1, (), state["v2_why"])
    else:
        v2 = answers["v2"]
        if v2["backward"]:
            out["backward_refuses_v2"] = Anomaly(1, (), "a BACKWARD registry refused V2: " + "; ".join(v2["backward"]))
        changed = ([f"it changes or drops v1's {', '.join(map(repr, v2['keeps_v1']))}"] if v2["keeps_v1"] else []) + \
            ([f"its channel field is {v2['channel']}, not {WANTED!r}"] if v2["channel"] != repr(WANTED) else []) + \
            ([f"it is called {v2['name']!r}"] if v2["name"] != V1.name else []) + \
            ([f"it also adds {', '.join(map(repr, v2['extra']))}"] if v2.get("extra") else [])
        if changed:
            out["not_the_change"] = Anomaly(1, (), "V2 is not v1 plus channel: " + "; ".join(changed))
    if "not_full" not in answers:
        out["no_v2_not_full"] = Anomaly(1, (), state["not_full_why"])
    else:
        nf = answers["not_full"]
        if nf["backward"]:
            out["backward_refuses_other"] = Anomaly(1, (), "BACKWARD refused V2_NOT_FULL too: " + "; ".join(
                nf["backward"]))
        if not nf["full"]:
            out["full_accepts"] = Anomaly(1, (), "a FULL registry accepted V2_NOT_FULL" + (
                " (it is v1 itself)" if nf["same_as_v1"] else ""))
    return out


def anomalies(trace: pd.DataFrame, state: dict, workload: Mapping[str, Any]) -> dict[str, Anomaly]:
    """The registry's refusals and acceptances, then dead letters and payments read wrong."""
    out = _schema_anomalies(state)
    sent = state["sent"]
    if not sent:
        out["not_consumed"] = Anomaly(1, (), f"the rollout could not run: the web shop cannot write its payments "
                                             f"with V2 ({state['cannot_write']})" if state.get("cannot_write") else
                                      "the rollout could not run: V2 is missing or BACKWARD refused it")
        return out
    dead = trace[trace["event"] == "dead_letter"]
    counted = trace[trace["event"] == "counted"]
    if len(dead):
        versions = sorted({sent[m][3] for m in dead["msg_id"]})
        out["dead_letter"] = Anomaly(len(dead), tuple(dead["msg_id"].head(5)),
                                     f"{len(dead)} of {len(sent)} payments (written with "
                                     f"{' and '.join(f'v{v}' for v in versions)}) went to the dead letters: "
                                     f"{dead['detail'].iloc[0]}")
    expected = {m: repr((u, amount, channel)) for m, (u, amount, channel, _v) in sent.items()}
    bad = [(m, d) for m, d in zip(counted["msg_id"], counted["detail"]) if d != expected[m]]
    if bad:
        m, d = bad[0]
        out["wrong_result"] = Anomaly(len(bad), tuple(b[0] for b in bad[:5]),
                                      f"{len(bad)} payment(s) read wrong, e.g. {m} (written with v{sent[m][3]}) "
                                      f"read as {d}, expected {expected[m]}")
    if not state["drained"]:
        out["stuck"] = Anomaly(1, (), "payments were still unread after 120 s of simulated time")
    return out


def explain(name: str, anomaly: Anomaly, run: Any) -> str:
    """Feedback naming the anomaly and its cause."""
    why = {
        "backward_refuses_v2": "BACKWARD means the new schema must read old data: a field v1 never wrote needs a "
                               "default",
        "backward_refuses_other": "it must still pass BACKWARD, so that only FULL's extra check (old readers read "
                                  "new data) refuses it",
        "full_accepts": "FULL also asks that v1 readers can read the new data: what does a v1 reader need that "
                        "your schema might not write?",
        "dead_letter": "read must handle both writers: decode with the reader schema of the upgraded consumer, so "
                       "a field the writer lacks gets its default",
        "wrong_result": "read returns (user, amount, channel) as written, with 'unknown' for v1 payments, which "
                        "have no channel",
    }.get(name)
    return f"{anomaly.detail}: {why}" if why else anomaly.detail


def draw(fr: Any, ax: Any) -> Any:
    """Payments counted and sent to the dead letters in the rollout (``None`` when it did not run)."""
    trace = fr.trace
    rows = trace[trace.event.isin(["counted", "dead_letter"])]
    if rows.empty:
        return None
    rows.event.value_counts().plot.bar(ax=ax, color=["#2ca02c", "#d62728"][: rows.event.nunique()])
    ax.set_title("payments counted and sent to the dead letters")
    return ax


def examples(fr: Any) -> pd.DataFrame:
    """The payments that went wrong, first ones first."""
    trace = fr.trace
    rows = trace[trace.event.isin(["counted", "dead_letter"])]
    return rows[rows.msg_id.isin(fr.highlight)][["time", "event", "msg_id", "detail"]].head(8)


EXERCISE = register(Exercise(
    name="06-schema-evolution",
    title="Evolve a schema the registry accepts, and a consumer that reads both versions",
    lesson="07-schema-drift",
    entry="read",
    component="billing",
    criteria=(
        Criterion("BACKWARD accepts V2", 3, ("no_v2", "backward_refuses_v2", "not_the_change"), scope="baseline"),
        Criterion("FULL refuses V2_NOT_FULL", 3, ("no_v2_not_full", "backward_refuses_other", "full_accepts"),
                  scope="baseline"),
        Criterion("the consumer reads v1 and V2", 4, ("not_consumed", "dead_letter", "wrong_result", "stuck"),
                  scope="baseline"),
    ),
    cases=(Case(0, {"payments": 30}, exhaustive=False, random_runs=0),),
    run_seconds=5.0,
    max_runs=5,
    simulate=simulate,
    anomalies=anomalies,
    explain=explain,
    draw=draw,
    examples=examples,
))
