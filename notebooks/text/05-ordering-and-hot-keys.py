# %% [markdown]
# # 05 · Ordering: keys, producer retries, hot keys and idle consumers
#
# **After this lesson you can**
#
# - explain why Kafka keeps one user's changes in order only when they share a partition, and choose a
#   partitioning key that makes them share one;
# - say what a current client does with a record that has no key (the sticky partitioner) and what it buys;
# - find, in a trace, two changes of one user that were applied in the opposite order to the one they were sent in;
# - tell which producer settings (`idempotent`, `max_in_flight`) let a retry reorder or repeat records inside a
#   single partition;
# - recognise a hot key from per-partition load and lag, and weigh a finer key against the ordering it gives up;
# - size a consumer group against the number of partitions (members beyond it get no work).
#
# **Where we are.** Lesson 04 moved the offset commit after the work: nothing is lost any more, but a crash now
# repeats records (lesson 06 makes those repeats harmless). This lesson is about the order in which records
# arrive.
#
# The consumers here apply each change as "the user's email is now X", so the change applied last wins, and the
# order in which changes are applied decides which address a user ends up with.

# %%
import matplotlib.pyplot as plt
import pandas as pd

import simkit as sk

# %% [markdown]
# ## 1. Round-robin partitioning on a calm broker
#
# 150 users each change their email 4 times, a few milliseconds apart. The producer ignores the key and deals
# the records to 6 partitions in turn; 3 consumers share the partitions. The broker never falters in this run
# (`leader_elections=0`, `response_cuts=0`): nothing is lost, nothing is repeated.
#
# **Predict.** How many of the 150 users end up with an address that is *not* the one they typed last: none,
# a handful, or dozens?

# %%
calm = dict(leader_elections=0, response_cuts=0)
rr = sk.scenarios.ordering("round_robin", partitions=6, consumers=3, seed=1, **calm)
print(f"{rr.report.out_of_order} of {rr.report.produced} changes applied after a later change of the same user; "
      f"{rr.report.wrong_final} of 150 users left with an older address "
      f"({rr.report.lost} lost, {rr.report.duplicates} applied twice)")

# %% [markdown]
# Follow one of those users through the trace: which partition did each change go to, and which consumer
# applied it, when?

# %%
user = rr.checks["wrong_final"].examples[0].split("/")[0]
t = rr.trace
t[(t.key == user) & t.event.isin(["send", "email_set"])][["time", "component", "event", "partition", "msg_id", "detail"]]

# %% [markdown]
# The timeline draws the two changes that decided this user's final address: the older one in red, the newer
# one in blue, from the producer through the broker to the consumer that applied each.

# %%
sk.plots.inversion_timeline(rr, key=user)
plt.show()

# %% [markdown]
# The changes left the producer in order. They landed in different partitions, and each partition is read by
# its own consumer at its own pace, so the newer change can be applied first. The broker kept every promise it
# makes; it never promised an order *across* partitions.
#
# ## 2. The fix: partition by the user id
#
# With the `"key"` design the producer sends every record with the same key to the same partition
# (`murmur2(key) % partitions`, as Kafka's Java client computes it), so one user's changes form one ordered
# sequence, read by one consumer.

# %%
keyed = sk.scenarios.ordering("key", partitions=6, consumers=3, seed=1, **calm)
print("round robin:", rr.report.out_of_order, "out of order,", rr.report.wrong_final, "wrong final addresses")
print("by key:     ", keyed.report.out_of_order, "out of order,", keyed.report.wrong_final, "wrong final addresses")
print(user, "always lands on partition", sk.partition_for(user, 6))

# %% [markdown]
# ### Which hash does *your* client use?
#
# The Java client hashes keys with murmur2. confluent-kafka, the client most Python learners install, does not
# by default: its `partitioner` setting defaults to `consistent_random`, a CRC32 hash (keyless records go to a
# random partition). Both keep one user's records together, which is all ordering needs, but they put the same
# user on *different* partitions, so a Python producer and a Java producer writing the same topic split one
# user's changes across two partitions. Set `partitioner="murmur2_random"` in confluent-kafka to get the Java
# client's partitions (and simkit's `partition_for`); `client="librdkafka"` makes a simkit scenario use
# librdkafka's defaults, CRC32 included.

# %%
users = sorted(rr.trace["key"].dropna().unique())
moved = sum(sk.partition_for(u, 6) != sk.consistent_partition(u, 6) for u in users)
print(f"{user}: partition {sk.partition_for(user, 6)} by murmur2 (Java), "
      f"{sk.consistent_partition(user, 6)} by CRC32 (confluent-kafka's default)")
print(f"{moved} of {len(users)} users land on a different partition under the two hashes")

# %% [markdown]
# One seed could be luck. The same comparison over 8 seeds (each seed draws other users' timings); the whiskers
# span the lowest to the highest run:

# %%
designs = sk.compare("ordering", ["round_robin", "key"], seeds=8, **calm)
sk.plots.inversion_bars(designs)
plt.show()

# %% [markdown]
# ### Records without a key: the sticky partitioner
#
# Round robin is not what a current client does with a record that has no key. Since KIP-480 (Kafka 2.4) the
# Java producer keeps every keyless record on one partition until the batch it is filling there is sent, then
# moves to another partition chosen at random; librdkafka sticks too, moving on every
# `sticky.partitioning.linger.ms` (10 ms). The reason is
# batching: records that pile up while the producer waits for the broker's answer all go into one batch,
# instead of one small batch per partition. `design="sticky"` runs the same users with the sticky partitioner
# (it ignores the key, as Kafka's `UniformStickyPartitioner` does).
#
# **Predict.** Compared with round robin, does the sticky partitioner write the same 600 changes in more or in
# fewer batches? And does sticking to a partition for a while keep each user's changes in order?

# %%
sticky = sk.scenarios.ordering("sticky", partitions=6, consumers=3, seed=1, **calm)
sk.plots.batch_sizes({"round_robin": rr, "sticky": sticky})
plt.show()
n_rr, n_sticky = len(sk.plots.batches(rr)), len(sk.plots.batches(sticky))
print(f"{'Fewer' if n_sticky < n_rr else 'More'} batches: {n_sticky} against {n_rr} for round robin. "
      f"Order: {sticky.report.wrong_final} of 150 users left with an older address "
      f"({rr.report.wrong_final} with round robin, {keyed.report.wrong_final} by key)")

# %% [markdown]
# Sticking helps the producer, not the order. A user's four changes are a few milliseconds apart, and the
# partition moves on whenever a batch leaves, so they still land on different partitions, read by different
# consumers. Keyless records are fine for events whose order does not matter; when it matters, give them a key.

# %% [markdown]
# ## 3. The producer can reorder one partition too
#
# A real broker has short hiccups. Two kinds are simulated, at times drawn from their own random streams:
#
# - a **leader election** (`leader_elections=6`): for 5–20 ms the partition has no leader and the broker
#   refuses every write (`BrokerUnavailable`); the producer retries the refused batch after `retry_backoff`
#   (100 ms);
# - a **lost answer** (`response_cuts=4`): the broker wrote the batch, but its reply never reaches the
#   producer, which waits `request_timeout` (300 ms here) and then sends the same batch again.
#
# Kafka's producer keeps up to 5 requests on the wire at once (`max.in.flight.requests.per.connection`), and
# since Kafka 3.0 the Java client is *idempotent* by default. librdkafka, which the Python, Go and .NET clients
# use, is not (`enable.idempotence=false` unless you set it): most Python learners run this case. Here
# idempotence is switched off.
#
# **Predict.** One partition, one consumer, every change keyed by its user. Can one user's changes still be
# applied in the wrong order? And if a retry writes a batch a second time, does the user notice?

# %%
loose = sk.scenarios.ordering("key", partitions=1, consumers=1, seed=1, idempotent=False, max_in_flight=5)
r = loose.report
print(f"{'Yes' if r.out_of_order else 'No'}: {r.retries} retries; {r.stale_writes} times an older change was "
      f"applied after a newer one ({r.out_of_order} on first delivery, the rest by repeated copies); "
      f"{r.duplicates} changes applied twice; {r.wrong_final} users left with an older address")

# %% [markdown]
# Two of the users left with an older address, if there are any, one for each kind of hiccup:

# %%
pairs = {u.split("/")[0]: sk.plots.inversion_pair(loose.trace, key=u.split("/")[0])
         for u in loose.checks["wrong_final"].examples}
refused = next(u for u, p in pairs.items() if not p["repeat"])
lost_answer = next(u for u, p in pairs.items() if p["repeat"])
fig, axes = plt.subplots(2, 1, figsize=(12, 7.5), layout="constrained")
sk.plots.inversion_timeline(loose, key=refused, ax=axes[0])
sk.plots.inversion_timeline(loose, key=lost_answer, ax=axes[1])
plt.show()

# %% [markdown]
# **Top: writes refused.** Several batches were on the wire when the election began, and each was refused. A
# refused batch goes back to the *front* of its partition's queue, so a batch refused a moment later jumps ahead
# of one refused earlier; and a batch that reaches the broker just after the election is written before older
# ones still waiting out their back-off. The log no longer follows the order of `send`.
#
# **Bottom: an answer lost.** The broker wrote the older change, the producer never heard so, and after the
# timeout it sent the change again, behind a newer change of the same user. The consumer applies the old
# address a second time, last, and the user keeps it.
#
# Two settings prevent this:
#
# - `max_in_flight=1`: only one request on the wire, so nothing can overtake a retry (at a cost in throughput);
#   a lost answer still writes a batch twice, but right behind its first copy, before anything newer;
# - `idempotent=True` (the Java client's default): every batch carries a sequence number; the broker refuses a batch that
#   skips ahead and drops a copy it already has, so retries neither reorder nor repeat.
#
# **Predict.** Over 8 seeds, first with only elections, then with only lost answers: which of the three
# producers ever leaves a user with an older address? Which one repeats changes?

# %%
settings = {"5 in flight, not idempotent": dict(idempotent=False, max_in_flight=5),
            "1 in flight, not idempotent": dict(idempotent=False, max_in_flight=1),
            "idempotent, 5 in flight (default)": dict()}
faults = {"leader elections only": dict(response_cuts=0), "lost answers only": dict(leader_elections=0)}
frames = []
for fault, fkw in faults.items():
    for label, kw in settings.items():
        df = sk.compare("ordering", ["key"], seeds=8, partitions=1, consumers=1, **fkw, **kw)
        frames.append(df.assign(producer=label, fault=fault))
producers = pd.concat(frames, ignore_index=True)
producers.groupby(["fault", "producer"], sort=False)[["retries", "stale_writes", "duplicates", "wrong_final"]].mean()

# %%
colors = dict(zip(settings, ["#d62728", "#ff7f0e", "#2ca02c"]))
fig, axes = plt.subplots(1, 2, figsize=(15, 5), sharey=True, layout="constrained")
for ax, fault in zip(axes, faults):
    part = producers[producers.fault == fault]
    wrong = part.groupby("producer", sort=False)["wrong_final"].mean()
    title = (f"{fault}: users left with an older address, per run\n"
             + ", ".join(f"{p.split(',')[0]}: {v:.2g}" for p, v in wrong.items()))
    sk.plots.inversion_bars(part, by="producer", ax=ax, colors=colors, title=title, wrap=12,
                            metrics=("stale_writes", "duplicates", "wrong_final"))
axes[1].get_legend().remove()
plt.show()
worst = producers.groupby(["fault", "producer"], sort=False)[["wrong_final", "duplicates"]].max()
for fault in faults:
    w = worst.loc[fault]
    stale = [p for p in settings if w.loc[p, "wrong_final"] > 0] or ["no producer"]
    repeats = [p for p in settings if w.loc[p, "duplicates"] > 0] or ["no producer"]
    print(f"{fault}: users left with an older address under {' and '.join(stale)}; "
          f"changes applied twice under {' and '.join(repeats)}")

# %% [markdown]
# Why, setting by setting: with several requests in flight, a refused or unanswered batch can be written after
# a newer one. With one request in flight nothing can overtake a retry, but a lost answer still writes a batch a
# second time, right behind its first copy: an older change in it is applied again, briefly, just before the
# newer change in the same batch puts the right address back. The idempotent producer's sequence numbers let the
# broker drop the copy and refuse a batch that skips ahead, with the same retries.

# %% [markdown]
# ## 4. Hot keys
#
# Partitioning by key has a price. All of one key's records go to one partition, and one partition is read by
# one consumer. Suppose one user, an integration that syncs a whole profile every few milliseconds, sends 30% of
# all events. Each of the 6 consumers can handle about a quarter of the total traffic (one event per 4 ms,
# against one event per ms arriving): plenty for an even spread.
#
# **Predict.** With the user id as the key, how far behind does the hot user's partition fall, and what about
# the other five? Keying by user id *and* event type spreads the hot user over several partitions: what does it
# cost?

# %%
hot = {design: sk.scenarios.hot_keys(design, share=0.3, seed=1) for design in ["key", "fine_key"]}
pd.DataFrame({d: r.report.to_dict() for d, r in hot.items()}).loc[
    ["partition_share_max", "hot_user_partitions", "lag_max", "latency_p99", "out_of_order", "cross_type_inversions"]]

# %%
fig, axes = plt.subplots(1, 3, figsize=(19, 4.8), layout="constrained")
sk.plots.partition_load(hot, ax=axes[0])
sk.plots.partition_lag(hot, ax=axes[1])
hot_partition = sk.partition_for("user-0", 6)  # the hot user is user-0
sk.plots.lag_over_time(hot["key"], ax=axes[2],
                       title=f"key: the hot user's partition {hot_partition} falls "
                             f"{hot['key'].report.lag_max} records behind,\nthe others keep up")
plt.show()

# %% [markdown]
# `fine_key` keys each event by user id **and** event type (`user-0:email_changed`, `user-0:address_changed`,
# ...). The hot user's events now spread over several partitions and the backlog shrinks. Within one key, order
# still holds (`out_of_order` is 0), but events of *different types* of one user are no longer ordered with
# respect to each other (`cross_type_inversions`). That is fine if an address change and an avatar change never
# depend on each other; it is a bug if one type's handler assumes the other already ran.

# %%
t = hot["fine_key"].trace
print(hot["fine_key"].checks["cross_type_inversions"])
t[(t.event == "processed") & t.msg_id.astype(str).str.startswith("user-0/")][["time", "component", "key", "msg_id"]].head(8)

# %% [markdown]
# ## 5. More consumers than partitions
#
# A partition is read by exactly one member of a consumer group. The partitions are therefore also the limit on
# how many consumers can share the work.
#
# **Predict.** A topic has 3 partitions; records arrive at 1.5 per ms and one consumer handles 1 per ms. The
# group grows from 1 to 6 consumers. How many of the 6 ever receive a record, and from which group size on does
# the p99 latency stop improving?

# %%
five = sk.scenarios.throughput("round_robin", arrival_rate=1.5, service_rate=1.0, partitions=3, consumers=5,
                               messages=1000, seed=1)
print(f"3 partitions, 5 consumers: {five.report.idle_consumers} consumers never received a record")
groups = sk.sweep("throughput", {"consumers": [1, 2, 3, 4, 5, 6]}, seeds=3, arrival_rate=1.5, service_rate=1.0,
                  partitions=3, messages=1000)
sk.plots.consumers_vs_partitions(groups)
plt.show()
p99 = groups.groupby("consumers")["latency_p99"].mean()
flat = next(n for n in p99.index if (p99[p99.index >= n] >= 0.9 * p99[n]).all())  # no later size is 10 % better
print(f"with 6 consumers, {6 - groups[groups.consumers == 6].idle_consumers.max()} receive records; the p99 stops "
      f"improving at {flat} consumers ({p99[flat]:.1f} ms, against {p99[1]:.0f} ms with one)")

# %% [markdown]
# The member count against the partitions explains it. With two consumers the 3 partitions split 2 and 1, and the
# member with two partitions gets two thirds of the traffic, 1 record per ms: exactly its capacity, with nothing to
# spare, so its queue swings wide and its records wait. To add consumers, add partitions first (and remember that adding partitions to a
# keyed topic moves keys to other partitions, which can break their order once, at the switch).
#
# ## 6. Try it
#
# The first control runs the email-change scenario; the timeline shows the inversion that decided one user's
# final address, if any user was left with an older one (otherwise the first stale write, if there is one; with
# none, the retries, leader elections and lost answers that struck and did no harm). The headline above it counts
# the faults that struck the whole run and what they did: an election or a lost answer that strikes while nothing
# is in flight costs nothing.
# Which combinations keep every user's order? Which ones repeat changes but still end with the right addresses?

# %%
def explore_order(design="key", idempotent=False, max_in_flight=5, leader_elections=6, response_cuts=4,
                  seed=1):
    r = sk.scenarios.ordering(design, partitions=3, consumers=3, seed=seed, users=60,
                              idempotent=idempotent, max_in_flight=max_in_flight,
                              leader_elections=leader_elections, response_cuts=response_cuts)
    wrong = r.checks["wrong_final"].examples
    ax = plt.subplots(figsize=(10, 5))[1]
    sk.plots.inversion_timeline(r, ax=ax, key=wrong[0].split("/")[0] if wrong else None)
    struck = r.trace.event.value_counts()
    ax.figure.suptitle(f"{struck.get('broker_down', 0)} leader elections and {struck.get('link_down', 0)} lost "
                       f"answers struck: {r.report.retries} retries, {r.report.stale_writes} stale writes,\n"
                       f"{r.report.duplicates} changes applied twice, {r.report.wrong_final} of 60 users left with "
                       f"an older address", fontweight="bold")
    ax.figure.tight_layout()
    plt.show()


sk.interact(explore_order, design=["round_robin", "key"], max_in_flight=(1, 8), leader_elections=(0, 12),
            response_cuts=(0, 12), seed=(0, 20));

# %% [markdown]
# The second control is the hot key. How big a share can one user have before its partition falls behind?
# Does a finer key always help? (With 6 event types, some may still share a partition: `hot_user_partitions`
# says how many partitions the hot user ends up on.)

# %%
def explore_hot_key(share=0.3, design="key", partitions=6, seed=1):
    r = sk.scenarios.hot_keys(design, share=share, partitions=partitions, consumers=partitions, seed=seed,
                              messages=1500)
    sk.plots.lag_over_time(r)
    plt.show()
    print(f"busiest partition {r.report.partition_share_max:.0%} of the traffic, worst backlog "
          f"{r.report.lag_max} records, hot user on {r.report.hot_user_partitions} partition(s), "
          f"{r.report.cross_type_inversions} cross-type inversions")


sk.interact(explore_hot_key, share=(0.0, 0.6, 0.05), design=["key", "fine_key"], partitions=(2, 12),
            seed=(0, 20));

# %% [markdown]
# ## Try it yourself
#
# 1. Run `sk.scenarios.ordering("round_robin", partitions=6, consumers=1, seed=1, leader_elections=0,
#    response_cuts=0)`. One consumer reads all six partitions: is every user's order now right? Hint: one poll
#    can return records from several partitions, and nothing orders records across partitions. Look at the
#    `partition` and `offset` columns of the `process` rows for one user in `run.trace`.

# %%

# %% [markdown]
# 2. For the hot key, find the smallest number of partitions for which `fine_key` keeps the worst backlog
#    under 50 records at `share=0.4`. Why does adding partitions do nothing for `key`?

# %%

# %% [markdown]
# ## Summary
#
# - Kafka orders records inside a partition and nowhere else. When order matters per entity, use that entity's
#   id as the key, and check it from the trace: the order changes were sent against the order they were applied.
# - Retries can reorder a single partition when several requests are in flight, and a lost answer can write an
#   old change again after a newer one. The idempotent producer stops both at almost no cost. One request in
#   flight stops the reordering on first delivery, but not the repeats: a repeated batch still applies an older
#   change again for a moment (`stale_writes`), until the newer change right behind it lands.
# - A key that carries a large share of the traffic pins that share on one partition and one consumer. A finer
#   key spreads it; each finer key keeps its order, but order *between* them is gone.
# - Partitions cap a consumer group: members beyond the partition count sit idle, and an uneven split
#   overloads the member with more partitions.
#
# ## Questions to discuss
#
# 1. Which entities in your system need their events in order, and what would the key be? Is there one whose
#    events must stay ordered *with another entity's* (an order and its payment)?
# 2. Do your producers run idempotent? Not every client library turns it on by default: how would you find out
#    what yours does today?
# 3. Is there a hot key in your traffic: a large tenant, a batch import, an integration? What would a finer key
#    break for its consumers?
# 4. Last write wins hides a reordering until the wrong value sticks. Could your consumers carry a version
#    number and refuse a change older than the one they hold? What would that cost?
