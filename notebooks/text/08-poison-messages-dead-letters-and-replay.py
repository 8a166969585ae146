# %% [markdown]
# # 08 · Poison messages, dead letters, lag and replay
#
# **After this lesson you can**
#
# - explain why one record that always fails can stop its whole partition, and spot it on a consumer-lag chart;
# - choose between crashing, skipping, and retrying then parking a record on a dead-letter topic, and say what
#   each one costs;
# - set an alert on dead-letter depth and one on consumer lag, and tell which failure each of them catches;
# - replay a topic after a bug fix by resetting a group's offsets, and say why only an idempotent handler comes
#   out of the replay right.
#
# **Where we are.** In lesson 07 billing could not decode the records written with a schema it did not know yet,
# and they were parked on a dead-letter topic. This lesson looks at that topic and at the operational habits
# around it. Its last part leans on lesson 06: a handler that can safely see a record twice.
#
# Two things happen to every event-driven system once it runs in production:
#
# - a **poison message**: a record the consumer fails on *every* time it tries. Partitions are read in order, so
#   one such record can stop everything behind it. We compare three answers: let the consumer crash, skip the
#   record, or retry a few times and then park it on a **dead-letter topic** (DLQ). Two monitors watch the
#   group: the **DLQ's depth** and the **consumer lag**;
# - a **replay**: a consumer had a bug, it is fixed, and its results must be rebuilt by resetting the consumer
#   group's offsets and reading history again.
#
# The story: a payment service publishes `PaymentReceived` events, keyed by user; a `ledger` group adds each amount
# to the user's balance. A few events carry a malformed amount (`"12,34"`, with a decimal comma). Which events are
# malformed is decided before the run, so every design meets the same bad records.

# %%
import matplotlib.pyplot as plt

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
trace[(trace.msg_id == bad) & trace.event.isin(["process", "handler_error"])][
    ["time", "component", "event", "partition", "offset"]].head(6)

# %% [markdown]
# The same record, the same error, again and again, each time on whichever consumer the group handed the
# partition to next: a **crash loop**. Here is that partition, one dot per record, with the bad record ringed and
# the records that arrived behind it drawn as bars that run until the end:

# %%
fig, ax = plt.subplots(figsize=(11, 4.5))
sk.plots.poison_timeline(crashing, msg_id=bad, ax=ax)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 2. Skip it, or park it
#
# Two ways to keep the partition moving:
#
# - `skip`: log the error, commit, carry on. The partition flows, but the record is gone; nobody can process it
#   later.
# - `dlq`: try again a few times with a growing pause (20, 40, then 80 ms here), and if it still fails, publish the
#   record to `payments.DLT` with headers saying where it came from and why it failed, then commit and carry on.
#   This is what Spring for Apache Kafka's `DefaultErrorHandler` with a dead-letter recoverer does.
#
# **Predict.** The same 300 payments, 3 of them malformed. For `no_dlq`, `skip` and `dlq`: how many payments does
# each one book, how many are lost, and how many are parked?

# %%
designs = ["no_dlq", "skip", "dlq"]
runs = {d: sk.scenarios.dead_letters(d, seed=0) for d in designs}
for d, r in runs.items():
    print(f"{d:7s} booked {r.report.processed:3d}  lost {r.report.lost}  dead-lettered {r.report.dead_lettered}"
          f"  stuck {r.report.stuck:3d}  blocked {r.report.blocked_ms:6.0f} ms")

# %%
fig, ax = plt.subplots(figsize=(11, 4.5))
sk.plots.handled_over_time(runs, ax=ax)
fig.tight_layout()
plt.show()

# %% [markdown]
# `no_dlq` goes flat after the malformed records. `skip` and `dlq` book the same good records, but only `dlq` kept
# the bad ones (dashed line). Here is what the dead-letter path did with the record we followed:

# %%
parked = runs["dlq"].trace
parked[(parked.msg_id == bad) & parked.event.isin(["process", "handler_retry", "dead_lettered"])][
    ["time", "event", "detail"]]

# %% [markdown]
# ## 3. A dead-letter topic is a queue somebody must read
#
# Parking a record is only better than skipping it if somebody notices. A monitor samples the depth of
# `payments.DLT` every 50 ms and raises an alert when it holds more than two records.

# %%
fig, ax = plt.subplots(figsize=(9, 4))
sk.plots.dlq_depth(runs["dlq"], ax=ax)
fig.tight_layout()
plt.show()
runs["dlq"].trace.query("event == 'alert' and detail.str.startswith('dlq_depth')")[["time", "event", "detail"]]

# %% [markdown]
# In practice the alert leads to a runbook: read the dead letters' headers, fix the producer or the consumer, then
# publish the parked records again (or drop them on purpose).
#
# ### What parking does to a key's order
#
# The payments are keyed by user, so each user's payments sit in one partition, in order. When one of them is
# parked, the partition moves on, and so do that user's next payments.
#
# **Predict.** In the `dlq` run, how many payments are booked although an earlier payment of the same user is
# still parked? What would it take to keep each user's payments in order?

# %%
overtook = runs["dlq"].checks["overtook_parked"]
held = sk.scenarios.dead_letters("dlq_park_key", seed=0)
print(f"dlq: {overtook.count} payments booked ahead of an earlier payment of their user that is parked "
      f"(e.g. message {overtook.examples[0] if overtook.examples else '-'})")
print(f"dlq_park_key: {held.checks['overtook_parked'].count} booked ahead; it parks "
      f"{held.report.dead_lettered} records instead of {runs['dlq'].report.dead_lettered}, "
      f"and books {held.report.processed} instead of {runs['dlq'].report.processed}")

# %% [markdown]
# A dead-letter topic trades order for progress. If a later payment of the user only makes sense after the earlier
# one (a refund, a balance check), booking it first is a bug. `dlq_park_key` parks the *key*: once a record is
# parked, every later record of its user follows it to the dead-letter topic (`with_retries(..., park_keys=True)`),
# and the whole key is replayed, in order, once the first record is fixed. Other users' records still flow; the
# price is more parked records and a replay that must keep them in order.
#
# ## 4. Consumer lag: the alert that sees a stuck partition
#
# The DLQ alert only fires when records are parked. A crash loop parks nothing, and a consumer that hangs does not
# even log an error. What every stuck or slow consumer does is fall behind. **Consumer lag** is, per partition, the
# log end offset minus the group's committed offset: the number of records written that the group has not
# finished. A second monitor samples it every 50 ms and alerts when any partition is more than 20 records behind.
#
# **Predict.** This time only **one** of the 300 payments is malformed. Without a DLQ, which partitions fall
# behind, and by about how many records by the end of the run? With the DLQ, does the lag alert fire at all?

# %%
one_bad = {d: sk.scenarios.dead_letters(d, poison=1, seed=0) for d in ["no_dlq", "dlq"]}
fig, axes = plt.subplots(2, 1, figsize=(11, 7.5), sharex=True)
for ax, r in zip(axes, one_bad.values()):
    sk.plots.consumer_lag(r, ax=ax)
axes[0].set_xlabel("")
fig.tight_layout()
plt.show()

# %% [markdown]
# Without a DLQ the partition holding the bad record falls further behind with every payment that arrives, and the
# other two keep up: a group-wide average would hide it, which is why lag is watched per partition (or as the
# worst partition). With the DLQ the same partition only pauses for the retries, and its lag drops back to zero.
#
# The two alerts catch different things. DLQ depth says "records were given up on, go and look at them". Lag says
# "this group is not keeping up", whatever the reason: a poison record, a slow database, a consumer that hangs.
#
# ## 5. Retries are for failures that pass
#
# Retrying a malformed record is pointless: it fails the same way each time. Retries exist for *transient*
# failures. Here the ledger's database is down from 500 ms to 800 ms and no record is malformed. With pauses of
# 50, 100 and 200 ms (350 ms of waiting) each record outlasts the outage; with a single retry after 10 ms, good
# records end up in the dead-letter topic.

# %%
patient = sk.scenarios.dead_letters("dlq", poison=0, seed=0, db_outage=(500, 300), handler_retries=3, backoff=50)
hasty = sk.scenarios.dead_letters("dlq", poison=0, seed=0, db_outage=(500, 300), handler_retries=1, backoff=10)
for name, r in [("3 retries from 50 ms", patient), ("1 retry after 10 ms", hasty)]:
    print(f"{name:22s}: {r.report.retries:2d} retries, {r.report.dead_lettered} good records dead-lettered, "
          f"worst lag {r.report.lag_max} records")

# %% [markdown]
# Retries in the consumer hold the partition while they wait. Long ones can fire the lag alert by themselves (try a
# back-off of 200 ms in section 8); that is why some teams move retries to a separate retry topic.
#
# ## 6. Over several seeds
#
# Each seed draws other arrival times, users and malformed records. Bars are the mean over 6 seeds, whiskers the
# lowest and highest run.

# %%
df = sk.compare("dead_letters", designs, seeds=6)
df.groupby("design", sort=False)[["processed", "lost", "dead_lettered", "stuck", "blocked_ms", "lag_max"]].mean()

# %%
means = df.groupby("design", sort=False).mean(numeric_only=True)
fig, axes = plt.subplots(1, 3, figsize=(15, 4.8))
sk.plots.outcome_bars(df, "stuck", ax=axes[0], ylabel="records stuck at the end, per run",
                      title=f"Stuck behind a poison record:\nno_dlq leaves {means.stuck['no_dlq']:.0f} a run, "
                            f"the others {means.stuck.drop('no_dlq').max():.0f}")
sk.plots.outcome_bars(df, ["lost", "dead_lettered"], ax=axes[1], ylabel="malformed records per run",
                      title=f"skip loses {means.lost['skip']:.0f} malformed records a run;\n"
                            f"dlq loses {means.lost['dlq']:.0f} and parks {means.dead_lettered['dlq']:.0f}")
sk.plots.outcome_bars(df, "lag_max", ax=axes[2], ylabel="worst consumer lag (records)",
                      title=f"Worst lag: no_dlq {means.lag_max['no_dlq']:.0f} records on average,\n"
                            f"dlq {means.lag_max['dlq']:.0f}, skip {means.lag_max['skip']:.0f}")
threshold = axes[2].axhline(crashing.params["lag_alert_threshold"], color="black", linestyle="--", linewidth=1,
                            label="lag alert threshold")
axes[2].legend(handles=[threshold], loc="upper right", fontsize="small")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 7. Replay: rebuilding a projection after a bug
#
# A second group, `projection`, keeps each user's balance (payments minus refunds) and emails a receipt for every
# event. Version 1 is correct. At 0.6 s version 2 is deployed, and it counts refunds as payments. At 1.4 s the bug
# is found: the operator stops the group, **resets its offsets** (as `kafka-consumer-groups --reset-offsets` does)
# and starts the fixed version 3, which reads history again.
#
# **Predict.** First with a handler of the naive kind from lesson 06: it adds each amount to the balance and sends
# the receipt, every time. Replaying all 200 events from the start: how many receipts go out twice, and are the
# balances right afterwards?

# %%
naive = sk.scenarios.replay("non_idempotent", reset_to="earliest", seed=0)
naive.report

# %%
fig, ax = plt.subplots(figsize=(11, 4.5))
sk.plots.replay_timeline(naive, ax=ax)
fig.tight_layout()
plt.show()

# %% [markdown]
# The green dots that start again from offset 0 after the reset are records handled a second time. Every one of
# them sent a second receipt (`side_effects_repeated`) and added its amount to the balance again, on top of the
# amount already there: the projection is still wrong, differently. Look one of them up:

# %%
print(naive.checks["side_effects_repeated"])
repeated = naive.checks["side_effects_repeated"].examples[0]
naive.trace.query("msg_id == @repeated and event in ['process', 'email_sent', 'balance_updated']")[
    ["time", "component", "event", "detail"]]

# %% [markdown]
# Now the idempotent handler: it stores each event's amount *under the message id* (a replayed event overwrites its
# old, wrong amount instead of adding to it) and sends the receipt with the idempotency key `receipt/<message id>`.

# %%
safe = sk.scenarios.replay("idempotent", reset_to="earliest", seed=0)
print(f"reprocessed {safe.report.reprocessed}, receipts sent twice {safe.report.side_effects_repeated}, "
      f"repeats the provider ignored {safe.report.emails_ignored}, "
      f"projection correct: {bool(safe.report.projection_correct)}")

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
replays = sk.compare("replay", ["non_idempotent", "idempotent"], seeds=6, reset_to="earliest")
rm = replays.groupby("design", sort=False).mean(numeric_only=True)
fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
sk.plots.outcome_bars(replays, "side_effects_repeated", ax=axes[0], ylabel="receipts emailed twice, per run",
                      title=f"Replaying from the start: non_idempotent emails\n"
                            f"{rm.side_effects_repeated['non_idempotent']:.0f} receipts twice a run, "
                            f"idempotent {rm.side_effects_repeated['idempotent']:.0f}")
sk.plots.outcome_bars(replays, "wrong_balances", ax=axes[1], ylabel="users with a wrong balance, per run",
                      title=f"After the replay: {rm.wrong_balances['non_idempotent']:.0f} of "
                            f"{naive.params['users']} users wrong with non_idempotent,\n"
                            f"{rm.wrong_balances['idempotent']:.0f} with idempotent")
fig.tight_layout()
plt.show()


# %% [markdown]
# A non-idempotent projection can still be rebuilt: empty it first (`rebuild=True`) and replay everything. The
# balances come out right, but the emails are sent again, because no rebuild can take back an email.
#
# ## 8. Explore
#
# Pick a design, how many payments are malformed, the retries and their first pause (ms), and a seed. The upper
# plot shows the consumer lag per partition against its alert threshold, the lower one the dead-letter topic's
# depth against its own. The headline counts where every payment ended: booked, lost, parked, or still waiting
# behind a record that was being retried when the run stopped (long retries can outlast the run).

# %%
def explore(design="dlq", poison=3, handler_retries=3, backoff=20, seed=1):
    r = sk.scenarios.dead_letters(design, poison=poison, handler_retries=handler_retries, backoff=backoff, seed=seed,
                                  messages=200)
    fig, axes = plt.subplots(2, 1, figsize=(10, 6.5), sharex=True)
    sk.plots.consumer_lag(r, ax=axes[0])
    axes[0].set_xlabel("")
    sk.plots.dlq_depth(r, ax=axes[1])
    axes[1].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
    fig.suptitle(f"booked {r.report.processed} of {r.report.produced}, lost {r.report.lost}, dead-lettered "
                 f"{r.report.dead_lettered}, {r.report.stuck} still waiting behind a failing record at the end;\n"
                 f"failing records held their partitions {r.report.blocked_ms / 1000:.2f} s in all "
                 f"({r.report.retries} retries, {r.report.crashes} crashes)", fontweight="bold")
    fig.tight_layout()
    plt.show()


sk.interact(explore, design=designs, poison=(0, 10), handler_retries=(0, 5), backoff=(5, 300, 5), seed=(0, 20));

# %% [markdown]
# ## Try it yourself
#
# 1. With `db_outage=(500, 300)` and `handler_retries=3`, find the smallest `backoff` at which no good record goes
#    to the dead-letter topic. Why do doubling pauses reach further than equal ones for the same number of retries?

# %%

# %% [markdown]
# 2. Run the idempotent replay with `reset_to="time"` and `reset_time=550` (a little before the buggy deploy at
#    600 ms), then with `reset_time=650`. Which one repairs the projection? What would you write in a replay runbook
#    about choosing the reset time?

# %%

# %% [markdown]
# ## Summary
#
# - A record that can never be handled stops its partition if the consumer insists on it: a crash loop, with
#   everything behind it stuck. Partitions keep order, so they also keep the jam.
# - Skipping keeps the partition flowing but throws the record away where nobody will look.
# - Retry with a growing back-off for failures that pass (a database that restarts), then park the record on a
#   dead-letter topic with the reason, and move on. Errors that retrying cannot fix (a payload that cannot be
#   parsed) can go straight to the DLQ.
# - Watch two numbers: DLQ depth (records given up on) and consumer lag per partition (a group that is not keeping
#   up, for any reason). Each needs an alert, and each alert needs a runbook.
# - Replaying history (resetting a group's offsets) repeats every side effect of the records replayed. Make the
#   handler idempotent first, and reset to a point before the bug started.
#
# ## Questions to discuss
#
# 1. Which of your consumers would crash-loop on a record it cannot parse today? How would you find out: an error
#    log, a lag alert, or a customer?
# 2. Who owns a dead-letter topic in your organisation, and what does the runbook say to do with a parked record:
#    replay it, fix it by hand, or drop it?
# 3. What lag threshold would page someone for your busiest consumer group? How would you tell a stuck partition
#    from a group that is simply too slow?
# 4. Which of your handlers could you replay from the beginning tomorrow without a single customer noticing? What
#    would it take to make the others safe to replay?
