# %% [markdown]
# # Exercise 06: evolve an event schema without breaking its readers
#
# **Lesson.** This exercise follows lesson 07 (schema drift). A schema registry keeps every version of an event's
# schema and refuses a new one that would break its readers. Under `BACKWARD` (Confluent's default) the new schema
# must read data written with the last one, so consumers upgrade first; `FULL` also asks the reverse: readers still
# on the old schema must read data written with the new one.
#
# **Your task.** The payments team publishes `PaymentReceived` events; version 1 (`V1`, given) has three required
# fields: `user` (string), `amount` (long, cents) and `currency` (string). Define, in the graded cell:
#
# * `V2`: version 2, which keeps v1's three fields as they are and adds one field, `channel` (string) with the
#   default `"unknown"`. A registry in `BACKWARD` mode must accept it after v1;
# * `V2_NOT_FULL`: another possible version 2 that a `BACKWARD` registry accepts after v1 but a `FULL` registry
#   refuses;
# * `read(payload, writer)`: the billing consumer, already upgraded. It gets one event's payload (a dict) and the
#   schema it was written with (`writer`: the registry's copy of v1 or of your `V2`, equal to it with `==` and
#   numbered `writer.version`, but not the same object) and returns the tuple `(user, amount, channel)`, with
#   amount in cents as written and channel `"unknown"` for a payment written with v1, which has none.
#
# **Your tools.** `sk.schemas.Schema`, `Field(name, type, default)`, `schema.add_field(...)`,
# `schema.remove_field(name)`, and `sk.schemas.decode(reader, writer, payload)`, which resolves a payload written
# with `writer` into the fields of `reader` as Avro does (a reader field the writer lacks takes its default; one
# without a default cannot be read). `sk.schemas.SchemaRegistry(mode)` lets you try a mode yourself.
#
# **How it is graded.** `sk.grading.check("06", read)` sends this cell to a fresh grading process (so nothing
# else in this notebook can change the grade). It asks a `BACKWARD` and a `FULL` registry about your two schemas,
# then runs a rollout: the app still writes v1, the web shop writes your `V2` (if `BACKWARD` accepted it), and one
# consumer reads all 30 payments with your `read`. A payment `read` cannot turn into the right tuple, because it
# raises or returns something else, goes to the dead letters. There are no crashes: `read` is a pure
# function with no durable step. Points are fixed: BACKWARD accepts V2 3, FULL refuses
# V2_NOT_FULL 3, the consumer reads v1 and V2 4.

# %%
import simkit as sk

# %% [markdown]
# ## Your schemas and consumer
#
# The cell below is the one you change, and the only one graded. This reference answer adds the field with a
# default, drops a required field for the schema FULL must refuse, and decodes every payload with `V2`.

# %% tags=["solution"]
from simkit.scenarios.schema_drift import V1
from simkit.schemas import Field, decode

V2 = V1.add_field(Field("channel", "string", "unknown"))  # the default lets v2 readers read v1 data
V2_NOT_FULL = V2.remove_field("currency")  # v2 readers skip nothing they need; v1 readers miss currency


def read(payload, writer):
    """Resolve the payload into V2's fields: a v1 payment gets the default channel."""
    event = decode(V2, writer, payload)
    return event["user"], event["amount"], event["channel"]


# %% [markdown]
# ## Grade it
#
# This takes a few seconds. It prints the points per criterion, the reason for every point lost and, if the
# rollout went wrong, the payments that went wrong, then draws the points and that run.
#
# Each payment the consumer read, by the version that wrote it: counted (what `read` returned) or sent to the
# dead letters (why). The first rows that went wrong come first.
#
# `sk.grading.show(grade)` prints and draws it all again.

# %%
grade = sk.grading.check("06", read)

# %% [markdown]
# ## What to remember
#
# * Under `BACKWARD` a new field needs a default: the new reader meets old data that never wrote it.
# * `FULL` adds the old reader's view: removing a field that old readers require is fine for new readers and fatal
#   for old ones.
# * A consumer reads *resolved* data: decode with its own reader schema, against the schema that wrote the data.
#
# **Going further.** Which of your two schemas would `FORWARD` accept? Try it with `sk.schemas.SchemaRegistry`.
