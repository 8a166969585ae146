# %% [markdown]
# # Exercise 05: handle poison messages without stopping the partition
#
# **Lesson.** This exercise follows lesson 08 (poison messages, dead letters and replay). A record that fails
# every time stops its partition if the consumer keeps retrying it, because a partition is read in order. The usual
# cure: retry a few times with a growing wait (a back-off), then publish the record to a dead-letter topic and move
# on.
#
# **Your task.** Order updates arrive on the topic `orders`, keyed by the order id; one consumer reads its one
# partition in order and commits after your handler returns. Write the generator `handle(record, tools)` so that:
#
# * **the partition keeps moving**: a poison record (its amount cannot be parsed, so it fails every time) does not
#   stop the records behind it;
# * **retries are bounded, with a back-off**: no record is tried more than 6 times, and a retry waits at least
#   10 ms after the failure it follows;
# * **a brief outage is ridden out**: the database is down once for 400 ms; records that fail only because of that
#   are applied, not dead-lettered;
# * **per-order order holds**: once an update of an order is in the dead-letter topic, no later update of that
#   order is applied (they would apply out of order); park them in the dead-letter topic too;
# * **nothing is dropped**: every record is applied or in the dead-letter topic.
#
# **Your tools, and only these.** `record.key` (the order id), `record.msg_id`, `record.value`;
# `yield from tools.apply(record)` applies the update and raises `PoisonRecord` (never succeeds) or `DatabaseDown`
# (try again later); `yield tools.sleep(ms)` waits; `yield from tools.dead_letter(record, reason)` publishes the
# record to `orders.DLT` and waits for the broker's ack; `tools.parked(key)` says whether `orders.DLT` already holds
# a record of that order. An exception that escapes `handle` leaves the offset uncommitted: the consumer polls the
# same record again 100 ms later, for ever.
#
# **How it is graded.** `sk.grading.check("05", handle)` sends this cell to a fresh grading process (so nothing
# else in this notebook can change the grade) and runs two cases of 30 orders, each with two poison records and
# one outage, without crashes, and a third where the database stays down for 5 s: there a record may go to the
# dead-letter topic after its tries (the brief-outage criterion does not apply to it), but is never tried a 7th
# time. Then a smaller case of 8 orders (one poison record) once without crashes, once with a
# crash at every point your handler passes (before and after every `tools.apply` and `tools.dead_letter`, before
# the handler and before the offset commit), and with random crashes. After a crash the consumer gets the records
# it had not committed again, and your cell is run again from scratch: Python variables are lost, `tools.parked`
# is not (it reads the dead-letter topic). Retries are counted per delivery. The order and nothing-dropped
# criteria must hold in every run, the others in the runs without crashes. Points are fixed, 2 per criterion
# above. A handler that raises anything else, or yields something that is not an event, scores zero with the
# reason.

# %%
import simkit as sk


# %% [markdown]
# ## Your handler
#
# The cell below is the one you change, and the only one graded. The version given here does no error handling at
# all: run it and see what one poison record does to the partition.

# %% tags=["solution"]
def handle(record, tools):
    """Apply the update; any error escapes and the consumer polls the record again."""
    yield from tools.apply(record)


# %% [markdown]
# ## Grade it
#
# This takes a few seconds. It prints the points per criterion, the reason for every point lost and the case that
# went wrong first, then draws the points and that run.
#
# In the run that went wrong: every try (`attempt`), every record applied, dead-lettered, or whose error escaped
# your handler (`handler_failed`), over time.
#
# `sk.grading.show(grade)` prints and draws it all again.

# %%
grade = sk.grading.check("05", handle)

# %% [markdown]
# ## What to remember
#
# * A poison record is not a transient failure: retrying cannot fix it, so it goes to the dead-letter topic, and the
#   partition moves on.
# * Transient failures deserve a few retries with a growing wait; the wait is what lets the database come back.
# * Dead-lettering a record breaks per-key order for the records of its key behind it, unless those are parked too
#   and replayed together after the fix.
#
# **Going further.** Parking every later update of an order can fill the dead-letter topic with good records. What
# would you need to replay them in order once the poison record is fixed?
