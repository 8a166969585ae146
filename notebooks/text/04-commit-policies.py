# %% [markdown]
# # 04 · When is a message "done"? Commit policies and crashing consumers
#
# **After this lesson you can**
#
# - say what a committed offset promises the consumer group, and where a restarted consumer picks up;
# - tell, for each way of committing (a timer, inside `poll()`, before the work, after the work, `poll()` with a
#   worker pool, storing offsets after the work for the timer), whether a crash **loses** records or **repeats**
#   them;
# - read a "committed minus handled" chart and point at the moments when a crash would lose records;
# - find a lost record in the trace and name the commit and the crash that lost it;
# - explain why "commit after the work" is the fix, and why it means every consumer must be safe to run twice;
# - weigh a synchronous commit per record against librdkafka's `store_offsets` and the timer.
#
# **Where we are.** Lesson 03 closed the gap on the *producing* side: a service that saves and then publishes
# can crash in between and the event never exists, so the outbox writes the event in the same transaction as
# the data and a relay publishes it, at least once. Every event now reaches the broker. This lesson looks at the
# other end of the pipe: can a consumer still lose it?
#
# The story: a topic of `UserSignedUp` events, and a consumer group whose handler sends each new user a welcome
# email. Every handled record leaves a `side_effect` row in the trace. The consumer crashes now and then
# (`crash_rate` is the chance it crashes while handling a record) and comes back half a second later.

# %%
import matplotlib.pyplot as plt

import simkit as sk

# %% [markdown]
# ## 1. The default: auto commit on a timer
#
# Most Kafka clients commit for you unless told otherwise. With librdkafka (the C library behind the Python,
# Go and .NET clients) a record's offset is *stored* as soon as the client hands it to your code, and a
# background timer commits whatever is stored every `auto.commit.interval.ms`, whether or not your code has
# finished. Here 300 sign-ups arrive about every 5 ms, a poll returns up to 20 records, each takes 10 ms to
# handle, and the timer fires every 100 ms.
#
# **Predict.** The consumer crashes on about 3 records in 100 and restarts from the group's committed offset.
# How many of the 300 new users never get their welcome email: none (it carries on where it stopped), about one
# per crash, or several per crash?

# %%
auto = sk.scenarios.consume("auto", crash_rate=0.03, seed=1)
print(f"{auto.report.crashes} crashes: {auto.report.lost} of {auto.report.produced} users never welcomed, "
      f"{auto.report.duplicates} welcomed twice")
auto.report

# %% [markdown]
# Several records per crash. The `lost` check names some of them, so we can look one up in the trace:

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
# The timeline follows that record in red, from the partition to the consumer. The dashed line is the moment
# the timer committed an offset past it; the cross is the crash; the triangle is the restart. The restarted
# consumer starts *after* the committed offset, so the group believes the record was handled, and nobody will
# ever handle it.

# %%
sk.plots.anomaly_timeline(auto, "lost")
plt.show()

# %% [markdown]
# ## 2. Where the commit is, compared with the work
#
# A useful way to see any commit policy: plot *committed offset minus handled offset* over time. Above zero
# (red), the group has committed records nobody has handled yet; a crash there loses them. Below zero (orange),
# records are handled but not committed; a crash there makes them come back. Each dotted line is a crash.
#
# The second panel is the fix: `after_processing` **commits a record only after its side effect is done**.
#
# **Predict.** Same seed, so the same arrivals and the same crash draws. With the commit after the work, how
# many users are never welcomed now? How many are welcomed twice: none, about one per crash, or several per
# crash?

# %%
after = sk.scenarios.consume("after_processing", crash_rate=0.03, seed=1)
print(f"commit after the work: {after.report.crashes} crashes, {after.report.lost} users never welcomed, "
      f"{after.report.duplicates} welcomed twice")
# one y scale for both panels, so one record behind looks as small as it is next to ten ahead
fig, axes = plt.subplots(2, 1, figsize=(12, 7), sharex=True, sharey=True, layout="constrained")
sk.plots.commit_vs_processed(auto, ax=axes[0])
sk.plots.commit_vs_processed(after, ax=axes[1])
axes[0].set_xlabel("")
plt.show()

# %% [markdown]
# With the timer, the commit jumps ahead of the work every 100 ms: a saw-tooth of red. After each crash the line
# stays flat until the restart, at the height where the crash caught it: a red plateau is records that will
# never be handled (lost), an orange one is records that will be handled again. With the commit after the work,
# the line never rises above zero; at worst it is one record behind, so a crash repeats at most one record.
#
# ## 3. The fix, and its price

# %%
for name, run in {"auto": auto, "after_processing": after}.items():
    print(f"{name:>16}: {run.report.crashes} crashes, {run.report.lost} lost, {run.report.duplicates} repeated")

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
# choice, as long as handling a record twice does no harm. Making sure of that is lesson 06.
#
# ## 4. librdkafka's idiom, and the price of one commit per record
#
# `after_processing` sends one synchronous commit to the group for every record, and the poll loop waits for
# each answer. The Python client offers a cheaper way to the same promise: turn off the automatic *store*
# (`enable.auto.offset.store=false`), keep the timer, and call `consumer.store_offsets(message)` once the work
# is done. The timer then commits only offsets your code has stored, so it can never run ahead of the work. In
# simkit the handler calls `ctx.store_offsets(record)` after its email; the design is `"store_offsets"`.
#
# **Predict.** Same seed again. With `store_offsets`, how many users are never welcomed? Does it repeat more
# or fewer records than `after_processing`, and how many commits does it make for 300 records?

# %%
stored = sk.scenarios.consume("store_offsets", crash_rate=0.03, seed=1)
for name, run in {"after_processing": after, "store_offsets": stored}.items():
    r = run.report
    print(f"{name:>16}: {r.lost} lost, {r.duplicates} repeated in {r.crashes} crashes, "
          f"{r.commits} commits for {r.processed} records ({r.commits / r.processed:.2f} per record)")

# %% [markdown]
# Nothing lost either way. `store_offsets` repeats more: a crash brings back everything finished since the
# last tick of the timer, up to 100 ms of work, where `after_processing` repeats at most the record in hand.
# In exchange it commits about once a tick instead of once a record.
#
# What is a commit per record worth? Give each commit a round trip to the group coordinator of 5 ms
# (`commit_latency`, a modest network) and turn the crashes off.
#
# **Predict.** Each record takes 10 ms of work. With 5 ms more per record for its commit, what happens to the
# time from sign-up to email, and to the whole run, for `after_processing`? And for `store_offsets`?

# %%
for design in ("after_processing", "store_offsets"):
    for commit_latency in (0, 5):
        r = sk.scenarios.consume(design, crash_rate=0.0, commit_latency=commit_latency, seed=1).report
        print(f"{design:>16}, commit {commit_latency} ms: mean latency {r.latency_mean:5.0f} ms, "
              f"p99 {r.latency_p99:5.0f} ms, {r.processed / r.duration * 1000:4.0f} records/s")

# %% [markdown]
# The synchronous commit sits in the poll loop, so every record now costs 15 ms instead of 10: the consumer
# falls further behind the arrivals, the mean wait for an email about doubles and throughput drops by a third.
# The timer's commits are asynchronous, beside the loop, and cost the records nothing. Committing every record
# is correct; it is rarely worth it when storing after the work gives the same "never lost" promise.
#
# ## 5. The other policies, over many seeds
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
# **Predict.** Run all five on the same ten seeds. Which of them lose records, and which one loses the most?
# Of the ones that never lose, which repeats more records per crash, `auto_on_poll` or `after_processing`?

# %%
designs = ["auto", "auto_on_poll", "auto_on_poll_pool", "before_processing", "after_processing"]
runs = sk.compare("consume", designs, seeds=10, crash_rate=0.03)
totals = runs.groupby("design", sort=False)[["crashes", "lost", "duplicates"]].sum()
losers = totals[totals.lost > 0].lost.sort_values(ascending=False)
print("lose records: " + ", ".join(f"{d} ({n / runs.seed.nunique():.0f} a run)" for d, n in losers.items()))
for d in totals.index[totals.lost == 0]:
    print(f"never lose: {d}, repeating {totals.duplicates[d] / totals.crashes[d]:.1f} records per crash")
runs.groupby("design", sort=False)[["crashes", "lost", "duplicates"]].agg(["mean", "min", "max"])

# %%
lost, repeated = (runs.groupby("design", sort=False)[m] for m in ("lost", "duplicates"))
never_lose = [d for d, worst in lost.max().items() if worst == 0]
loses_most = lost.mean().idxmax()
fig, axes = plt.subplots(2, 1, figsize=(10, 7.5), sharex=True, layout="constrained")
sk.plots.outcome_bars(runs, "lost", ax=axes[0], ylabel="records lost\nper run (mean, min-max)",
                      title=f"Lost none on any of {runs.seed.nunique()} seeds: {' and '.join(never_lose)}; "
                            f"{loses_most} lost {lost.mean()[loses_most]:.0f} a run")
sk.plots.outcome_bars(runs, "duplicates", ax=axes[1], ylabel="records handled twice\nper run (mean, min-max)",
                      title="Those two repeat records instead: " + ", ".join(f"{d} {repeated.mean()[d]:.0f}"
                                                                             for d in never_lose) + " a run")
axes[0].set_xlabel("")
plt.show()

# %% [markdown]
# Notice that `auto_on_poll` repeats more than `after_processing`: it commits only when it polls, so a crash
# repeats everything handled since the last poll, while `after_processing` repeats at most the one record in
# hand. The worker pool is the worst loser here because the poll loop runs far ahead of the workers after every
# restart, and the next commit covers the whole queue. The whiskers run from the best seed to the worst. The
# sizes move a lot from seed to seed, enough for two of the losing policies to swap places on some seeds; what
# never moves is *which* policies lose and which only repeat.
#
# ## 6. Try it
#
# Pick a policy, a crash rate and a seed (200 records). Where is the line above zero, and what happens at a crash
# there?

# %%
def explore(design="auto", crash_rate=0.03, seed=1):
    r = sk.scenarios.consume(design, crash_rate=crash_rate, messages=200, seed=seed)
    fig, ax = plt.subplots(figsize=(12, 3.5), layout="constrained")
    sk.plots.commit_vs_processed(r, ax=ax)
    plt.show()


sk.interact(explore, design=[*designs, "store_offsets"], crash_rate=(0.0, 0.1, 0.01), seed=(0, 20));

# %% [markdown]
# ## Try it yourself
#
# 1. Keep `design="auto"` and change `auto_commit_interval` (try 20, 100 and 1000 ms) at `crash_rate=0.03`.
#    How do the lost records change, and why? (Hint: how much of a 200 ms batch is committed before it is done?)

# %%

# %% [markdown]
# 2. With `design="before_processing"`, try `max_poll_records=1`. How many records can one crash lose now?
#    Compare with `after_processing` at the same setting: is a smaller batch a fix, or only a smaller loss?

# %%

# %% [markdown]
# ## Summary
#
# - The committed offset is a promise to the group: "everything before this is done". A restarted consumer
#   believes it and starts there.
# - A commit that can run ahead of the work (a timer, a commit before processing, a poll that runs ahead of a
#   worker pool) turns a crash into **lost** records, several per crash, and nothing reports an error.
# - Committing only once the work is done never loses; a crash then means the record is **handled again**.
#   Plan for that: every consumer must be safe to run twice on the same record (lesson 06).
# - A synchronous commit per record is the slowest way to get there: each commit's round trip is added to every
#   record. With the Python client, store each offset after the work and let the timer commit (`store_offsets`).
# - Defaults matter: auto commit is on by default in Kafka clients, and it behaves differently in the Java
#   client and in librdkafka. Know which one you run.
#
# ## Questions to discuss
#
# 1. Which commit policy do your consumers use today? Did anyone choose it, or is it the client's default?
# 2. Where does one of your consumers hand records to a thread pool, a queue or an async task? What commits the
#    offset there, and what has been handled by then?
# 3. For one of your consumers, which is worse: a record lost or a record handled twice? What would each cost,
#    and who would notice first?
# 4. A lost record raises no error anywhere. How would you find out, in your system, that some were lost?
