# %% [markdown]
# # 04 · Poison messages, dead letters and replay
#
# **Where we are.** Lesson 03 accepted that an at-least-once consumer sees some records twice, and made the
# second delivery harmless: an operation that can be repeated safely, a dedupe table written in the same
# transaction as the effect, a check against business state, and an idempotency key for effects outside the
# database such as emails.
#
# **What this lesson covers.** Two things that happen to every event-driven system once it runs in production:
#
# - a **poison message**: a record the consumer fails on *every* time it tries. Partitions are read in order, so
#   one such record can stop everything behind it. We compare three answers: let the consumer crash, skip the
#   record, or retry a few times and then park it on a **dead-letter topic** (DLQ), with an **alert on the DLQ's
#   depth** so somebody looks at it;
# - a **replay**: a consumer had a bug, it is fixed, and its results must be rebuilt by resetting the consumer
#   group's offsets and reading history again. This is where the idempotence of lesson 03 pays off a second time.
#
# The story: a payment service publishes `PaymentReceived` events, keyed by user; a `ledger` group adds each amount
# to the user's balance. A few events carry a malformed amount (`"12,34"`, with a decimal comma). Which events are
# malformed is decided before the run, so every design meets the same bad records.

# %%
import matplotlib.pyplot as plt
import ipywidgets as widgets

import simkit as sk

# %% [markdown]
# ## 1. A record that fails every time
#
# The simplest consumer lets an exception escape its handler, and the consumer process dies. It restarts from the
# last committed offset, which is the bad record, and dies again.

# %%
crashing = sk.scenarios.dead_letters("no_dlq", seed=0)
crashing.report

# %% [markdown]
# `stuck` counts records still waiting in the log when the run stopped, `blocked_ms` how long (summed over the
# partitions) a failing record held its partition, `crashes` how often a consumer died. Nothing is `lost`: every
# stuck record is still in the log. But nothing behind the bad record moves either. Follow one malformed message:

# %%
bad = crashing.params["poison"][0]
trace = crashing.trace
trace[(trace.msg_id == bad) & trace.event.isin(["process", "handler_error", "crash"])].head(8)

# %% [markdown]
# The same record, the same error, a crash, again and again: a **crash loop**. After every crash the group hands the
# partition to another member, which meets the same record and crashes in its turn, so the other partitions stall
# during the rebalances too.
#
# ## 2. Skip it, or park it
#
# Two ways to keep the partition moving:
#
# - `skip`: log the error, commit, carry on. The partition flows, but the record is gone; nobody can process it
#   later.
# - `dlq`: try again a few times with a growing pause (20, 40, then 80 ms here), and if it still fails, publish the
#   record to `payments.DLT` with headers saying where it came from and why it failed, then commit and carry on.
#   This is what Spring for Apache Kafka's `DefaultErrorHandler` with a dead-letter recoverer does.

# %%
designs = ["no_dlq", "skip", "dlq"]
runs = {d: sk.scenarios.dead_letters(d, seed=0) for d in designs}
for d, r in runs.items():
    print(f"{d:7s} processed {r.report.processed:3d}  lost {r.report.lost}  dead-lettered {r.report.dead_lettered}"
          f"  stuck {r.report.stuck:3d}  blocked {r.report.blocked_ms:7.0f} ms")

# %%
sk.plots.handled_over_time(runs)
plt.show()

# %% [markdown]
# `no_dlq` goes flat after the first malformed record. `skip` and `dlq` handle the same good records, but only `dlq`
# kept the bad ones (dashed line). Here is what the dead-letter path did with one of them:

# %%
parked = runs["dlq"].trace
parked[(parked.msg_id == bad) & parked.event.isin(["process", "handler_retry", "dead_lettered", "processed"])]

# %% [markdown]
# ## 3. A dead-letter topic is a queue somebody must read
#
# Parking a record is only better than skipping it if somebody notices. Here a monitor samples the depth of
# `payments.DLT` every 50 ms and raises an alert when it holds more than two records.

# %%
sk.plots.dlq_depth(runs)
plt.show()
runs["dlq"].trace.query("event == 'alert'")

# %% [markdown]
# In practice the alert leads to a runbook: read the dead letters' headers, fix the producer or the consumer, then
# publish the parked records again (or drop them on purpose).
#
# ## 4. Retries are for failures that pass
#
# Retrying a malformed record is pointless, it fails the same way each time. Retries exist for *transient*
# failures. Here the ledger's database is down from 500 ms to 800 ms and no record is malformed. With pauses of
# 50, 100 and 200 ms (350 ms of waiting) each record outlasts the outage; with a single retry after 10 ms, good
# records end up in the dead-letter topic.

# %%
patient = sk.scenarios.dead_letters("dlq", poison=0, seed=0, db_outage=(500, 300), retries=3, backoff=50)
hasty = sk.scenarios.dead_letters("dlq", poison=0, seed=0, db_outage=(500, 300), retries=1, backoff=10)
for name, r in [("3 retries from 50 ms", patient), ("1 retry after 10 ms", hasty)]:
    print(f"{name:22s}: {r.report.retries:2d} retries, {r.report.dead_lettered} good records dead-lettered")

# %% [markdown]
# ## 5. Over several seeds

# %%
df = sk.compare("dead_letters", designs, seeds=5)
df.groupby("design", sort=False)[["processed", "lost", "dead_lettered", "stuck", "blocked_ms"]].mean()

# %%
fig, axes = plt.subplots(1, 2, figsize=(13, 4.5))
sk.plots.outcome_bars(df, "stuck", ax=axes[0], ylabel="records per run",
                      title="Only the crash loop leaves records stuck behind the poison")
sk.plots.outcome_bars(df, ["lost", "dead_lettered"], ax=axes[1], ylabel="records per run",
                      title="Skipping loses the bad records; the DLQ keeps them")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 6. Replay: rebuilding a projection after a bug
#
# A second group, `projection`, keeps each user's balance (payments minus refunds) and emails a receipt for every
# event. Version 1 is correct. At 0.6 s version 2 is deployed, and it counts refunds as payments. At 1.4 s the bug
# is found: the operator stops the group, **resets its offsets** (as `kafka-consumer-groups --reset-offsets` does)
# and starts the fixed version 3, which reads history again.
#
# First with the handler of lesson 03's naive kind: it adds to the balance and sends the receipt, every time.

# %%
naive = sk.scenarios.replay("non_idempotent", reset_to="earliest", seed=0)
naive.report

# %%
sk.plots.replay_timeline(naive)
plt.show()

# %% [markdown]
# The green dots below the red ones are records handled a second time. Every one of them sent a second receipt
# (`side_effects_repeated`) and added its amount to the balance again, on top of the amount already there: the
# projection is still wrong, differently. Look one of them up:

# %%
print(naive.checks["side_effects_repeated"])
repeated = naive.checks["side_effects_repeated"].examples[0]
naive.trace.query("msg_id == @repeated and event in ['process', 'email_sent', 'balance_updated']")

# %% [markdown]
# Now the idempotent handler: it stores each event's amount *under the message id* (a replayed event overwrites its
# old, wrong amount instead of adding to it) and sends the receipt with the idempotency key `receipt/<message id>`.

# %%
safe = sk.scenarios.replay("idempotent", reset_to="earliest", seed=0)
print(f"reprocessed {safe.report.reprocessed}, receipts sent twice {safe.report.side_effects_repeated}, "
      f"repeats the provider ignored {safe.report.emails_ignored}, projection correct: {bool(safe.report.projection_correct)}")

# %% [markdown]
# How far back must the replay go? Back to where the bug started. Resetting to the time the buggy version went live
# (`reset_to="time"`) replays fewer records and repairs everything; resetting to a later offset, or not at all
# (`"latest"`, fixing forward only), leaves the bug's results in place.

# %%
for reset in ["earliest", "time", 45, "latest"]:
    r = sk.scenarios.replay("idempotent", reset_to=reset, seed=0)
    print(f"reset to {reset!r:10}: {r.report.reprocessed:3d} records reprocessed, {r.report.unrepaired:2d} of the "
          f"bug's {r.report.bug_handled} left as they were, projection correct: {bool(r.report.projection_correct)}")

# %%
replays = sk.compare("replay", ["non_idempotent", "idempotent"], seeds=4, reset_to="earliest")
sk.plots.outcome_bars(replays, ["side_effects_repeated", "wrong_balances"], ylabel="messages or users per run",
                      title="Replaying from the start: only the idempotent handler repeats nothing and ends correct")
plt.show()


# %% [markdown]
# A non-idempotent projection can still be rebuilt: empty it first (`rebuild=True`) and replay everything. The
# balances come out right, but the emails are sent again, because no rebuild can take back an email.
#
# ## 7. Try it
#
# Pick a design, how many payments are malformed, the retries and their first pause. The upper plot shows records
# handled over time, the lower one the dead-letter topic's depth against its alert threshold.

# %%
def explore(design="dlq", poison=3, retries=3, backoff=20, threshold=2, seed=0):
    r = sk.scenarios.dead_letters(design, poison=poison, retries=retries, backoff=backoff,
                                  dlq_alert_threshold=threshold, seed=seed, messages=200, max_time=8000)
    fig, axes = plt.subplots(2, 1, figsize=(9, 7))
    sk.plots.handled_over_time(r, ax=axes[0])
    sk.plots.dlq_depth(r, ax=axes[1])
    fig.tight_layout()
    plt.show()
    print(r.report)


widgets.interact(explore, design=designs, poison=(0, 10), retries=(0, 5), backoff=(5, 200, 5),
                 threshold=(0, 10), seed=(0, 20));

# %% [markdown]
# ## What to remember
#
# - A record that can never be handled stops its partition if the consumer insists on it: a crash loop, with
#   everything behind it stuck. Partitions keep order, so they also keep the jam.
# - Skipping keeps the partition flowing but throws the record away without a trace anyone will read.
# - Retry with a growing back-off for failures that pass (a database that restarts), then park the record on a
#   dead-letter topic with the reason, and move on. Errors that retrying cannot fix (a payload that cannot be
#   parsed) can go straight to the DLQ.
# - A DLQ is only useful if its depth is monitored and alerts someone, and if there is a runbook to replay it.
# - Replaying history (resetting a group's offsets) repeats every side effect of the records replayed. Make the
#   handler idempotent first, and reset to a point before the bug started.
#
# ## Exercises
#
# 1. With `db_outage=(500, 300)` and `retries=3`, find the smallest `backoff` at which no good record goes to the
#    dead-letter topic. Why do doubling pauses reach further than equal ones for the same number of retries?

# %%

# %% [markdown]
# 2. Run the idempotent replay with `reset_to="time"` and `reset_time=550` (a little before the buggy deploy at
#    600 ms), then with `reset_time=650`. Which one repairs the projection? What would you write in a replay runbook
#    about choosing the reset time?

# %%
