# %% [markdown]
# # 02 · When is a message "done"? Commit policies and crashing consumers
#
# **Where we are.** In lesson 01 the *producing* side lost events: a service that commits to its database and
# then publishes to the broker can crash in between, and the event never exists. The outbox closed that gap by
# writing the event in the same transaction as the data and letting a relay publish it, at least once. So now
# every event reaches the broker. This lesson looks at the other end of the pipe.
#
# **What this lesson covers**
#
# - how a consumer tells the group how far it got: the **committed offset**, the place a restarted consumer
#   resumes from;
# - the four ways clients commit (auto commit on a timer, auto commit inside `poll()`, commit before the work,
#   commit after the work), and a fifth that looks like the safe one but is not (auto commit with a worker pool);
# - which of them **lose** records when a consumer crashes, and which **repeat** them instead;
# - why "commit after processing" is the fix, and why its price (repeats) leads to lesson 03.
#
# The story: a topic of `UserSignedUp` events, and a consumer group whose handler sends each new user a welcome
# email. Every handled record leaves a `side_effect` row in the trace. The consumer crashes now and then
# (`crash_rate` is the chance it crashes while handling a record) and comes back half a second later.

# %%
import matplotlib.pyplot as plt
import ipywidgets as widgets

import simkit as sk

# %% [markdown]
# ## 1. The default: auto commit on a timer
#
# Most Kafka clients commit for you unless told otherwise. With librdkafka (the C library behind the Python,
# Go and .NET clients) a record's offset is *stored* as soon as the client hands it to your code, and a
# background timer commits whatever is stored every `auto.commit.interval.ms`, whether or not your code has
# finished. Here a poll returns up to 20 records, each takes 10 ms to handle, and the timer fires every 100 ms.

# %%
auto = sk.scenarios.consume("auto", crash_rate=0.03, seed=1)
auto.report

# %% [markdown]
# Some sign-ups never got their welcome email. The `lost` check names a few of them, so we can look one up in
# the trace:

# %%
print(auto.checks["lost"])
lost_id = auto.checks["lost"].examples[0]
trace = auto.trace
trace[trace.msg_id == lost_id]

# %% [markdown]
# The record was sent and written to the partition, and the consumer even started on it (`process`), but there
# is no `side_effect` row. What happened around it? The rows *without* a message id tell the rest: the commit
# that moved past it, and the crash.

# %%
lost_time = trace[(trace.msg_id == lost_id) & (trace.event == "append")].time.iloc[0]
around = trace[(trace.time >= lost_time) & trace.event.isin(["fetch", "commit", "crash", "restart"])]
around.head(8)

# %% [markdown]
# The timeline below follows that record in red. The dashed line is the moment the timer committed an offset
# past it; the cross is the crash. Once the offset is committed, the restarted consumer starts *after* it: the
# group believes the record was handled.

# %%
sk.plots.anomaly_timeline(auto, "lost")
plt.show()

# %% [markdown]
# ## 2. Where the commit is, compared with the work
#
# A useful way to see any commit policy: plot *committed offset minus handled offset* over time. Above zero
# (red), the group has committed records nobody has handled yet; a crash there loses them. Below zero (orange),
# records are handled but not committed; a crash there makes them come back. Each dotted line is a crash.

# %%
after = sk.scenarios.consume("after_processing", crash_rate=0.03, seed=1)
fig, axes = plt.subplots(2, 1, figsize=(11, 7), sharex=True)
sk.plots.commit_vs_processed(auto, ax=axes[0])
sk.plots.commit_vs_processed(after, ax=axes[1])
fig.tight_layout()
plt.show()

# %% [markdown]
# With the timer, the commit jumps ahead of the work every 100 ms: a saw-tooth of red. The second panel is
# the fix: **commit a record only after its side effect is done**. The commit can then never be ahead of the
# work; at worst it is one record behind.
#
# ## 3. The fix, and its price
#
# Same seed, so the same arrivals and the same crash draws:

# %%
print("auto:            ", auto.report.lost, "lost,", auto.report.duplicates, "repeated")
print("after_processing:", after.report.lost, "lost,", after.report.duplicates, "repeated")

# %% [markdown]
# Nothing is lost, but some records were handled twice: the consumer crashed after sending the email and before
# its commit reached the group, so the restarted consumer started from the older commit.

# %%
dup_id = after.checks["duplicates"].examples[0]
after.trace[after.trace.msg_id == dup_id]

# %%
sk.plots.anomaly_timeline(after, "duplicates")
plt.show()

# %% [markdown]
# This is **at-least-once** delivery: every record is handled, some more than once. It is the usual and sane
# choice, as long as handling a record twice does no harm. Making sure of that is lesson 03.
#
# ## 4. The other policies
#
# - `before_processing`: commit the whole batch as soon as it arrives, then work through it. That is
#   **at-most-once**: nothing repeats, and a crash loses the rest of the batch.
# - `auto_on_poll`: the Java client's auto commit happens *inside* `poll()` and covers what earlier polls
#   returned. If your loop handles every record of a batch before it polls again, everything committed has been
#   handled: crashes repeat work and never lose it.
# - `auto_on_poll_pool`: the same Java setting, but the loop passes records to a pool of 4 worker threads and
#   polls straight away. Now `poll()` commits records that are still queued for the workers, and a crash loses
#   them.
#
# Run every policy on the same five seeds and compare:

# %%
designs = ["auto", "auto_on_poll", "auto_on_poll_pool", "before_processing", "after_processing"]
runs = sk.compare("consume", designs, seeds=5, crash_rate=0.03)
runs.groupby("design", sort=False)[["crashes", "lost", "duplicates"]].mean()

# %%
fig, axes = plt.subplots(1, 2, figsize=(14, 4.5))
sk.plots.outcome_bars(runs, "lost", ax=axes[0], ylabel="records lost per run",
                      title="Only committing after the work (and sync auto-commit in poll) loses nothing")
sk.plots.outcome_bars(runs, "duplicates", ax=axes[1], ylabel="records handled twice per run",
                      title="The designs that lose nothing pay in repeated records")
for ax in axes:
    ax.tick_params(axis="x", labelrotation=20)
fig.tight_layout()
plt.show()


# %% [markdown]
# Notice that `auto_on_poll` repeats more than `after_processing`: it commits only when it polls, so a crash
# repeats everything handled since the last poll, while `after_processing` repeats at most the one record in
# hand. The worker pool is the worst loser here because the poll loop runs far ahead of the workers after every
# restart, and the next commit covers the whole queue.
#
# ## 5. Try it
#
# Pick a policy, a crash rate and a seed. Where is the line above zero, and what happens at a crash there?

# %%
def explore(commit="auto", crash_rate=0.03, seed=1):
    r = sk.scenarios.consume(commit, crash_rate=crash_rate, messages=200, seed=seed)
    sk.plots.commit_vs_processed(r)
    plt.show()
    print(f"{r.report.crashes} crashes: {r.report.lost} lost, {r.report.duplicates} repeated "
          f"(p99 latency {r.report.latency_p99:.0f} ms)")


widgets.interact(explore, commit=designs, crash_rate=(0.0, 0.1, 0.01), seed=(0, 20));

# %% [markdown]
# ## What to remember
#
# - The committed offset is a promise to the group: "everything before this is done". A restarted consumer
#   believes it.
# - A commit that can run ahead of the work (a timer, a commit before processing, a poll that runs ahead of a
#   worker pool) turns a crash into **lost** records, silently.
# - Committing only once the work has been made durable never loses; a crash then means the record is **handled again**.
#   Plan for that: every consumer needs to be safe to run twice on the same record.
# - Defaults matter: auto commit is on by default in Kafka clients. Know which behaviour yours has.
#
# ## Exercises
#
# 1. Keep `commit="auto"` and change `auto_commit_interval` (try 20, 100 and 1000 ms) at `crash_rate=0.03`.
#    How do the lost records change, and why? (Hint: how much of a 200 ms batch is committed before it is done?)

# %%

# %% [markdown]
# 2. With `commit="before_processing"`, try `max_poll_records=1`. How many records can one crash lose now?
#    Compare with `after_processing` at the same setting: is a smaller batch a fix, or only a smaller loss?

# %%
