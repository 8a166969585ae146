# %% [markdown]
# # Exercise 01: write an idempotent consumer handler
#
# **Recap of lesson 06.** A consumer that commits its offset only after the work is done never loses a record,
# but a crash between the work and the commit hands the same record over again. A dedupe table, a natural
# idempotent write or a business check makes that second delivery harmless.
#
# **Your task.** A `UserSignedUp` event arrives for every new user; `record.key` is the user id. Write the
# generator `handle(record, ctx, db)` so that, after every record has been handled, and whatever crashes
# happened along the way:
#
# * `welcome.emails` holds **exactly one row per user**, keyed by the user id. A mail relay sends one email for
#   every committed write of a row, so writing a user's row twice sends that user two emails;
# * `welcome.stats["signups"]` equals the **number of users**.
#
# **Your tools.** `tx = db.transaction()` opens a transaction; `tx.get(table, key, default)` reads (it sees the
# transaction's own writes first); `tx.put(table, key, value)` writes; `yield from tx.commit()` makes every write
# of the transaction visible at once, after the database's commit latency. To let the grader crash your code in
# the middle, list names in `handle.crash_points` and call `ctx.crash_point(name)` where you want it to be
# able to strike.
#
# **How it is graded.** The consumer commits after processing (at-least-once). The grader runs your handler
# for several seeds, once with a crash at each crash point (`before_process`, `after_process` and yours) for each
# message position, and once with random crashes. Every user signs up only once, so any repeat comes from a
# redelivery. One point per run with no lost user, no duplicate email and the right counter.

# %%
import matplotlib.pyplot as plt

import simkit as sk


# %% [markdown]
# ## Your handler
#
# The cell below is the one you change. The version given here does the two writes separately and never asks whether it has seen the user before.

# %% tags=["solution"]
def handle(record, ctx, db):
    """Count the sign-up, then queue the welcome email: two transactions, no check for repeats."""
    tx = db.transaction()
    tx.put("welcome.stats", "signups", tx.get("welcome.stats", "signups", 0) + 1)
    yield from tx.commit()
    ctx.crash_point("between_writes")  # the counter is committed, the email is not yet
    tx = db.transaction()
    tx.put("welcome.emails", record.key, "Welcome aboard!")
    yield from tx.commit()


handle.crash_points = ("between_writes",)

# %% [markdown]
# ## Grade it
#
# This runs your handler a few dozen times (it takes about a second) and prints the grade. A handler that raises, forgets to `yield` or never returns gets a failed grade with the reason.

# %%
grade = sk.grading.grade_handler(handle)
print(grade)

# %% [markdown]
# ## Points per seed
#
# Each seed is one history of arrivals and latencies; each bar counts the crash schedules tried under that seed, and the green part the runs your handler got right.

# %%
sk.grading.plot_points(grade)
plt.show()

# %% [markdown]
# ## The smallest failing run
#
# If a run went wrong, the timeline below shows the simplest one: the crash (a cross) and, circled in red, the user it hurt. The trace rows of that user follow: look for the `process` row appearing twice (a redelivery) and what each delivery wrote.

# %%
if grade.failing_run is None:
    print("every run passed: nothing to show")
else:
    sk.grading.plot_failing_run(grade)
    plt.show()
    trace = grade.failing_run.result.trace
    display(trace[trace.msg_id == grade.failing_run.highlight[0]])

# %% [markdown]
# ## What to remember
#
# * At-least-once delivery means your handler *will* see a record again after a crash; the second run must change nothing.
# * Checking for the repeat and writing the effect only work together if they commit together: in one transaction, a crash leaves either all of it or none of it.
# * A check in one transaction and the write in another leaves a gap a crash can fall into.
#
# **Going further.** Add a crash point between a check and a write that you put in two transactions. Which problem does the grader report now, and why?

# %%
