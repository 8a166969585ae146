# %% [markdown]
# # Exercise 01: write an idempotent consumer handler
#
# **Lesson.** This exercise follows lesson 06 (idempotent consumers). A consumer that commits its offset only
# after the work is done never loses a record, but a crash between the work and that commit hands the same
# record over again. Your handler must make the second delivery harmless.
#
# **Your task.** A `UserSignedUp` event arrives for every new user; `record.key` is the user id. Write
# `handle(record, ctx, db)` so that, after every record has been handled, and whatever crashes happened:
#
# * `welcome.emails` holds **exactly one row per user**, keyed by the user id. A mail relay sends one email for
#   every committed write of a row, so writing a user's row twice sends that user two emails;
# * `welcome.stats["signups"]` equals the **number of users**.
#
# **Your tools, and only these.**
#
# * `record.key` (the user id), `record.msg_id` (the event's id), `record.value`;
# * `tx = db.transaction()`; `tx.get(table, key, default)` reads (it sees the transaction's own writes first);
#   `tx.put(table, key, value)` writes; `yield from tx.commit()` makes every write of the transaction visible
#   at once, after the database's commit latency. You may use tables of your own (a dedupe table such as
#   `welcome.processed`, as in lesson 06): a table exists from its first write;
# * `ctx.now` (ms), `yield ctx.timeout(ms)`, and `ctx.crash_point(name)` if you want an extra crash point.
#
# `handle` may be any function that returns a generator (a helper's generator, or a decorated function, is fine).
#
# **What the database and the consumer promise.** A transaction reads the rows committed when it reads, and its
# writes land together at commit: all of them or, if the consumer crashes first, none. The database's isolation
# is *serializable*, checked optimistically (as PostgreSQL's `SERIALIZABLE` does for this pattern): if another
# transaction committed a key yours read or wrote after you touched it, your `tx.commit()` raises
# `TransactionConflict` and writes nothing. The first to commit wins. You need not catch it: if it escapes, the
# record is not committed, so it is delivered again, and the new delivery reads what the winner committed. Python
# variables do not survive a crash: your cell is run again from scratch when the consumer restarts.
#
# **How it is graded.** `sk.grading.check("01", handle)` sends this cell to a fresh grading process (so nothing
# else in this notebook can change the grade). It runs your handler once without crashes, then once with a
# crash at every point your handler passes (before and after every `tx.commit()`, before the handler and
# before the offset commit), for every message, then with random crashes. Then comes a *zombie*: a member
# that stalls (a long garbage-collection pause) at one of those points while its partition moves to a new
# owner, which is handed the same records; the zombie then goes on from where it stopped. It stalls at each
# point in turn. Points are fixed: correct without crashes 2, no lost user 3, no duplicate email 3, counter
# right 2, concurrent delivery 2. The last one counts only what the overlap breaks: a handler that already
# goes wrong when the same record simply comes twice loses its points in the other criteria.

# %%
import simkit as sk


# %% [markdown]
# ## Your handler
#
# The cell below is the one you change, and the only one graded. The version given here does the two writes
# separately and never asks whether it has seen the user before.

# %% tags=["solution"]
def handle(record, ctx, db):
    """Count the sign-up, then queue the welcome email: two transactions, no check for repeats."""
    tx = db.transaction()
    tx.put("welcome.stats", "signups", tx.get("welcome.stats", "signups", 0) + 1)
    yield from tx.commit()
    tx = db.transaction()
    tx.put("welcome.emails", record.key, "Welcome aboard!")
    yield from tx.commit()


# %% [markdown]
# ## Grade it
#
# This takes a few seconds. It prints the points per criterion, the reason for every point lost and the smallest
# run that went wrong (its seed and where the crash struck), then draws the points and that run.
#
# If a run went wrong, the timeline below shows the smallest one: the crash (a cross) and, circled in red, the
# users it hurt. Below it, the trace rows of the first of them: look for the `process` row appearing twice (a
# redelivery) and what each delivery committed.
#
# `sk.grading.show(grade)` prints and draws it all again.

# %%
grade = sk.grading.check("01", handle)

# %% [markdown]
# ## What to remember
#
# * At-least-once delivery means your handler *will* see a record again after a crash; the second run must
#   change nothing.
# * Every *write* that records the work (the email row, the counter, a "seen" marker) belongs in one
#   transaction: a crash then leaves all of it or none of it.
# * A check in one transaction and the write in another leaves a gap, and the zombie case finds it: the
#   zombie's check passes and commits, the zombie stalls, the new owner welcomes the user, and the zombie's
#   write transaction, which reads the counter but not the email row, welcomes them a second time. With one consumer no
#   crash falls into that gap; with two members it is a duplicate email. With the check and the writes in
#   one transaction, the second member to commit gets `TransactionConflict` and its redelivery does nothing.
# * A write split in two breaks even with one consumer: a marker committed first loses the user; the effect
#   committed first sends a second email.
#
# **Going further.** Move the counter into a second transaction committed after the email row. Which criterion
# does the grader take points from, at which crash point, and why is the counter short rather than over?
