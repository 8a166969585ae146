# %% [markdown]
# # Exercise 09: replay after a bug fix
#
# **Lesson.** This exercise follows lesson 08 (poison messages, dead letters and replay). There, a handler with a
# bug wrote wrong balances, and the fix was to reset the group's offsets and let the fixed version handle the
# records again. Here you run that replay yourself: you choose where it starts, and you write the fixed handler.
#
# **The story.** A payments handler keeps three tables. Version v1.0 ran correctly. At 1.5 s the team deployed
# v1.1, which stores every amount 100 times too large (it reads cents as euros). At 3 s the bug was found and
# v1.1 was stopped. Payments keep arriving. The topic has two partitions. v1 kept up: every record written before
# the deploy was handled by v1.0, and every record written after it, up to the stop, by v1.1. Every payment v1
# handled also got its receipt email.
#
# * `payments`: msg_id → the amount applied to the balance;
# * `balances`: account → the sum of the amounts applied;
# * `receipts`: msg_id → the receipt's text. A mail relay sends one email for every committed write of a
#   `receipts` row, so writing a row a second time sends the customer a second email.
#
# **Your task.** Write two functions in one cell:
#
# 1. `reset_to(log)` returns `{partition: offset}` for every partition: where the group starts again. You get
#    `log.partitions` (the partition numbers), `log.beginning(p)`, `log.end(p)`, `log.committed(p)` (the group's
#    committed offset now, where v1.1 stopped), `log.offsets_for_times(ms)` (`{p: the first offset whose
#    timestamp is at or after ms}`, Kafka's `offsetsForTimes`) and `log.deploys`, a list of `(ms, version)`.
# 2. `handle(record, ctx, db)`, the fixed v2, which the replay runs on every record from your offsets on.
#    `record.key` is the account, `record.value` the amount, and there are `record.msg_id`, `record.offset`
#    and `record.partition`. `tx = db.transaction()`, `tx.get(table, key, default)`, `tx.put(table, key, value)`
#    and `yield from tx.commit()` work as in exercise 01 (the writes of one transaction land together). `ctx.now`,
#    `ctx.timeout(ms)` and `ctx.crash_point(name)` are there too.
#
# The replay consumer commits its offset after your handler returns. The grader crashes it before and after every
# `tx.commit()`, before the handler runs and before the offset commit. A crashed consumer restarts from its
# committed offset with a fresh copy of your cell: anything kept in Python variables is gone.
#
# **How it is graded.** `sk.grading.check("09", handle)` sends this cell to a fresh grading process. It runs the
# story once without crashes, once for every crash point your replay passed (up to 150 runs), and twice with
# random crashes.
# Points are fixed:
#
# * **correct without crashes** (2): after a replay with no crash, every payment row and balance is right, and every
#   payment got exactly one receipt;
# * **every bad record corrected** (3): after every run, the `payments` row of every record holds its right
#   amount, the records v1.1 got wrong included;
# * **balances right: nothing applied twice** (3): after every run, every balance is the sum of its account's
#   right amounts;
# * **one receipt per payment** (2): after every run, every payment has had exactly one receipt email, no more
#   (the ones v1 already sent count) and no fewer;
# * **replay starts where the bug started** (2): without crashes, v2 handles no record that v1.0 had handled.
#
# Starting from the beginning with a handler that is safe to replay gets every point but the last one: it is
# correct, but it does again work that was already right. A cell that raises, or a `reset_to` that does not return
# an offset between 0 and the end for each partition, scores zero, with the reason.

# %%
import simkit as sk


# %% [markdown]
# ## Your reset and your fixed handler
#
# The cell below is the one you change, and the only one graded. This reference answer replays from the deploy
# of v1.1, turned into offsets, and its handler sets the right amount instead of adding one: it reads what was
# applied, moves the balance by the difference and writes a receipt only if there is none, all in one transaction.

# %% tags=["solution"]
def reset_to(log):
    """Replay from the first record v1.1 handled: its deploy time, as offsets."""
    deployed = next(ms for ms, version in log.deploys if version.startswith("payments-v1.1"))
    return log.offsets_for_times(deployed)


def handle(record, ctx, db):
    """v2: make the payment row right, move the balance by the difference, one receipt per payment."""
    tx = db.transaction()
    applied = tx.get("payments", record.msg_id)
    if applied != record.value:
        balance = tx.get("balances", record.key, 0)
        tx.put("balances", record.key, balance - (applied or 0) + record.value)
        tx.put("payments", record.msg_id, record.value)
    if tx.get("receipts", record.msg_id) is None:
        tx.put("receipts", record.msg_id, f"payment {record.msg_id} received")
    yield from tx.commit()


# %% [markdown]
# ## Grade it
#
# This takes about ten seconds. It prints the points per criterion, the reason for every point lost and the run
# that went wrong first, then draws the points and that run.
#
# Which version handled which record, over time, in the run that went wrong: v1.0 (before the bug), v1.1 (the bug)
# and your v2 (the replay). A v2 dot level with a v1.0 dot is a record replayed that was right already.
#
# `sk.grading.show(grade)` prints and draws it all again.

# %%
grade = sk.grading.check("09", handle)

# %% [markdown]
# ## What to remember
#
# * Replay from the first record the buggy version handled: the deploy time, turned into offsets with
#   `offsetsForTimes`. The committed offset is where the bug stopped, so replaying from there fixes nothing.
# * A replayed handler meets records that were already handled. Make it set the right state, not add to it: read
#   what was applied, and move the balance by the difference, in the same transaction.
# * A side effect that already happened must not happen again: check the receipts table in the transaction that
#   writes the receipt row.
#
# **Going further.** Your reset starts at v1.1's deploy. What would you need to know if v1 had been running behind
# when the new version was deployed?
