# %% [markdown]
# # 09 · Ordering: keys, producer retries and hot keys
#
# **Where we are.** Lesson 08 took the broker away for a while. Everything that published or consumed through it
# stalled, and the lesson was that this is an infrastructure question with infrastructure answers: replicate the
# broker, keep a local outbox so that publishing can wait, and keep the paths that must answer a user right now
# off the broker altogether.
#
# **What this lesson covers**
#
# - why a user who changes their email three times in a row can end up with the *second* address: Kafka keeps
#   order inside one partition and nowhere else;
# - the fix, partitioning by a key (the user id), and how to check it from the trace;
# - how the **producer** can still reorder one partition when it retries, and what `enable.idempotence` and
#   `max.in.flight.requests.per.connection` have to do with it;
# - **hot keys**: when one key carries a big share of the traffic, its partition cannot keep up; a finer key
#   spreads the load and gives up some ordering in exchange.
#
# The consumers in this lesson apply each change as "set the email to X": the last write wins, so the order in
# which the changes are applied decides the final address.

# %%
import matplotlib.pyplot as plt
import ipywidgets as widgets
import pandas as pd

import simkit as sk

# %% [markdown]
# ## 1. Round-robin partitioning on a calm broker
#
# 150 users each change their email 4 times, a few milliseconds apart. The producer deals the records to 6
# partitions in turn, ignoring the key; 3 consumers share the partitions. No broker trouble at all here
# (`leader_elections=0`, `response_cuts=0`).

# %%
calm = dict(leader_elections=0, response_cuts=0)
rr = sk.scenarios.ordering("round_robin", partitions=6, consumers=3, seed=1, **calm)
rr.report

# %% [markdown]
# `out_of_order` counts changes that were applied *after* a later change of the same user; `wrong_final`
# counts users whose address at the end is not the one they typed last. Follow one of them through the trace:
# which partition did each change go to, and which consumer applied it when?

# %%
print(rr.checks["wrong_final"])
user = rr.checks["wrong_final"].examples[0].split("/")[0]
t = rr.trace
t[(t.key == user) & t.event.isin(["send", "email_set"])][["time", "component", "event", "partition", "msg_id", "detail"]]

# %% [markdown]
# The changes left the producer in order, but they sat in different partitions, each read by its own consumer
# at its own pace. Nothing was lost and nothing was repeated: the broker kept every promise it makes. It simply
# never promised an order *across* partitions.
#
# ## 2. The fix: partition by the user id
#
# With `partitioner="key"` the producer sends every record with the same key to the same partition
# (`murmur2(key) % partitions`, exactly as Kafka's Java client does), so one user's changes form one ordered
# sequence read by one consumer.

# %%
keyed = sk.scenarios.ordering("key", partitions=6, consumers=3, seed=1, **calm)
print("round robin:", rr.report.out_of_order, "out of order,", rr.report.wrong_final, "wrong final addresses")
print("by key:     ", keyed.report.out_of_order, "out of order,", keyed.report.wrong_final, "wrong final addresses")
print(user, "always lands on partition", sk.partition_for(user, 6))

# %% [markdown]
# ## 3. The producer can reorder one partition too
#
# A real broker has short hiccups: a partition leader moves, and for a few milliseconds produce requests are
# refused; a network blip drops a few answers. The default scenario has both, at times drawn from their own
# random streams (`leader_elections=6`, `response_cuts=4`). The producer retries what failed. What happens to
# order then depends on its settings. Kafka's defaults since 3.0 are an *idempotent* producer with up to 5
# requests in flight; here we switch idempotence off.

# %%
loose = sk.scenarios.ordering("key", partitions=1, consumers=1, seed=1, idempotent=False, max_in_flight=5)
print(loose.report.retries, "retries,", loose.report.out_of_order, "out of order,",
      loose.report.duplicates, "applied twice,", loose.report.wrong_final, "wrong final addresses")

# %% [markdown]
# One partition and one consumer, and still out of order. Look at the partition log for one affected user: the
# order of `append` rows is the order the consumer will see.

# %%
late = loose.checks["out_of_order"].examples[0]
user = late.split("/")[0]
t = loose.trace
mine = t[t.key == user]
window = t.time.between(mine.time.min(), mine[mine.event == "append"].time.max())
t[((t.key == user) & t.event.isin(["send", "append", "email_set"]))
  | (window & t.event.isin(["broker_down", "broker_up", "retry"]))][["time", "component", "event", "offset", "msg_id", "detail"]]

# %% [markdown]
# Several requests were on the wire at once when the leader election began, and each was refused
# (`BrokerUnavailable`). The producer puts a failed batch back at the *front* of its partition's queue to retry
# it after the back-off, so a batch that failed a moment later jumps ahead of one that failed earlier; and a
# request that reached the broker just after the election is written before earlier ones still waiting to be
# retried. Either way the partition log no longer follows the order of `send`. With a lost answer, the story is worse: the broker
# had written the change, the producer never heard so, and the retry writes the *old* change a second time,
# after a newer one. Last write wins, so the user keeps a stale address.
#
# Two settings prevent it:
#
# - `max_in_flight=1`: only one request on the wire, so nothing can overtake a retry (at a cost in throughput);
# - `idempotent=True` (the default): every batch carries a sequence number; the broker refuses a batch that
#   skips ahead and silently drops a copy it already has, so retries can neither reorder nor duplicate.

# %%
settings = {"no idempotence, 5 in flight": dict(idempotent=False, max_in_flight=5),
            "no idempotence, 1 in flight": dict(idempotent=False, max_in_flight=1),
            "idempotent (Kafka default)": dict()}
frames = []
for label, kw in settings.items():
    df = sk.compare("ordering", ["key"], seeds=5, partitions=1, consumers=1, **kw)
    df["producer"] = label
    frames.append(df)
producers = pd.concat(frames, ignore_index=True)
producers.groupby("producer", sort=False)[["retries", "out_of_order", "duplicates", "wrong_final"]].mean()

# %%
fig, axes = plt.subplots(1, 2, figsize=(15, 4.5))
designs = sk.compare("ordering", ["round_robin", "key"], seeds=5)
sk.plots.inversion_bars(designs, ax=axes[0])
sk.plots.inversion_bars(producers, by="producer", ax=axes[1],
                        title="key partitioner, 1 partition: only idempotence or 1 in flight keep order")
axes[1].tick_params(axis="x", labelrotation=10)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 4. Hot keys
#
# Partitioning by key has a price. A key's records all go to one partition, and one partition is read by one
# consumer. Suppose one user (an integration that syncs a whole profile every few milliseconds) sends 30% of
# all events. Six consumers could handle the total easily; the one that owns that user's partition cannot.

# %%
hot = {design: sk.scenarios.hot_keys(design, share=0.3, seed=1) for design in ["key", "fine_key"]}
pd.DataFrame({d: r.report.to_dict() for d, r in hot.items()}).loc[
    ["max_partition_share", "hot_user_partitions", "max_lag", "latency_p99", "out_of_order", "cross_type_inversions"]]

# %%
fig, axes = plt.subplots(1, 3, figsize=(19, 4.5))
sk.plots.partition_load(hot, ax=axes[0])
sk.plots.partition_lag(hot, ax=axes[1])
sk.plots.lag_over_time(hot["key"], ax=axes[2],
                       title=f"key: the hot user's partition {sk.partition_for('user-0', 6)} falls behind, "
                             "the others keep up")
fig.tight_layout()
plt.show()

# %% [markdown]
# `fine_key` keys each event by user id **and** event type (`user-0:email_changed`, `user-0:address_changed`,
# ...). The hot user's events now spread over several partitions and the backlog disappears. Per key, order
# still holds (`out_of_order` is 0), but events of *different types* of one user are no longer ordered with
# respect to each other (`cross_type_inversions`). That is fine if, say, an address change and an avatar change
# never depend on each other; it is a bug if one type's handler assumes the other already ran.

# %%
t = hot["fine_key"].trace
print(hot["fine_key"].checks["cross_type_inversions"])
t[(t.event == "processed") & t.msg_id.astype(str).str.startswith("user-0/")][["time", "component", "key", "msg_id"]].head(8)


# %% [markdown]
# ## 5. Try it
#
# How big a share can one user have before its partition falls behind? Does a finer key always help? (With
# 6 event types, some of them may still share a partition: `hot_user_partitions` tells you how many partitions
# the hot user ends up on.)

# %%
def explore(share=0.3, key_design="key", partitions=6, seed=1):
    r = sk.scenarios.hot_keys(key_design, share=share, partitions=partitions, consumers=partitions, seed=seed,
                              messages=2000)
    sk.plots.lag_over_time(r)
    plt.show()
    print(f"busiest partition {r.report.max_partition_share:.0%} of the traffic, worst backlog "
          f"{r.report.max_lag} records, {r.report.cross_type_inversions} cross-type inversions")


widgets.interact(explore, share=(0.0, 0.6, 0.05), key_design=["key", "fine_key"], partitions=(2, 12), seed=(0, 20));

# %% [markdown]
# ## What to remember
#
# - Kafka orders records within a partition, never across partitions. If order matters per entity, key by
#   that entity's id.
# - Retries can reorder one partition when several requests are in flight. Keep the idempotent producer on
#   (the default in current clients): it costs next to nothing and prevents both reordering and duplicates on
#   retry.
# - A key that carries a large share of the traffic pins that share on one partition and one consumer.
#   A finer key spreads it, and each key keeps its order, but order *between* the finer keys is gone.
# - Check order from the trace: compare the order changes were sent with the order they were applied.
#
# ## Exercises
#
# 1. Run `sk.scenarios.ordering("round_robin", partitions=6, consumers=1, seed=1, leader_elections=0,
#    response_cuts=0)`. One consumer reads all partitions: is the order now right? Look at how a consumer
#    fetches from several partitions (lesson 00) and explain what you see.

# %%

# %% [markdown]
# 2. For the hot key, find the smallest number of partitions for which `fine_key` keeps the worst backlog
#    under 50 records at `share=0.4`. Why does adding partitions do nothing for `key`?

# %%
