# %% [markdown]
# # 16 · Replication and acks: which acknowledged records survive a failover
#
# **After this lesson you can**
#
# - explain what a partition's leader, its followers, the in-sync replica set (ISR) and the high watermark are,
#   and read them off a run;
# - say when a producer with `acks=1` hears "written" for a record that a failover then takes back, and why
#   `acks="all"` with `min_insync_replicas=2` does not;
# - follow a lost acknowledged record through the trace: appended, acknowledged, never copied, truncated;
# - say what unclean leader election trades, and why `acks="all"` cannot protect you from it;
# - pick `acks`, `min_insync_replicas` and `unclean_leader_election` for a topic, and name their cost.
#
# **Where we are.** Lesson 09 took the one broker away and watched three designs cope. Real clusters keep each
# partition on several brokers, so that losing one is routine. Until now simkit had one broker, and `acks=1`
# and `acks="all"` did the same thing. Here each partition has three replicas, and the difference shows.
#
# **The setup.** An application sends 4,000 payment records, about 2 a millisecond, to a topic with one
# partition on three brokers (`sk.Cluster`). Broker 0 leads at first; brokers 1 and 2 follow, each fetching
# from the leader every 10 to 50 ms. At 1 s broker 0 dies for 0.6 s, and the controller makes an in-sync
# follower the new leader. When broker 0 returns it cuts its log back to the new leader's history (KIP-101's
# leader epochs) before following it. Three designs:
#
# - **acks_1**: the leader answers once it has written the batch itself;
# - **acks_all**: the leader answers once every ISR member has the batch, and refuses writes while the ISR is
#   smaller than `min_insync_replicas=2` (the producer is idempotent, Kafka's default);
# - **acks_all_unclean**: as acks_all, with `unclean_leader_election` on, and a worse day: broker 2 is down from
#   0.3 s, so it falls out of the ISR, then brokers 0 and 1 die together at 1 s. Broker 2 comes back first.
#
# Nothing in the simulator decides that a record is lost: only arrivals, latencies and fetch times are random.
# A record is lost when the replicas that had it are truncated. Time is in milliseconds in the trace.

# %%
import matplotlib.pyplot as plt
import pandas as pd

import simkit as sk

DESIGNS = list(sk.scenarios.SCENARIOS["replication"].designs)
FIELDS = ["produced", "acknowledged", "lost_acknowledged", "unacknowledged", "refused_not_enough_replicas",
          "failovers", "unclean_elections", "truncated", "latency_p50", "latency_p99"]

# %% [markdown]
# ## 1. The leader alone says "written"
#
# **Predict.** With `acks=1`, the producer hears back as soon as broker 0 has appended a record. The followers
# copy it 10 to 50 ms later. Broker 0 dies at 1 s. Will any record that the application was told is written be
# missing at the end? If so, about how many: none, a handful, a few dozen, hundreds?

# %%
one = sk.scenarios.replication("acks_1", seed=0)
pd.Series({f: one.report[f] for f in FIELDS})

# %% [markdown]
# Every record was acknowledged, and some of them are gone. Follow one through the trace: the old leader
# appended it, the application got its acknowledgement, broker 1 never fetched it before the crash, and when
# broker 0 came back it truncated the record to agree with its new leader.

# %%
lost = one.checks["lost_acknowledged"].examples[0]
t = one.trace
t[t.msg_id == lost][["time", "component", "event", "offset", "detail"]]

# %%
sk.plots.follow_timeline(one, lost, components=["app", "producer", "broker-0", "broker-1", "broker-2", "cluster"],
                         window=(960, 1700), outages=[(1000, 1600)], outage_label="broker-0 down",
                         title=f"{lost}: acknowledged by broker-0 alone, then truncated when it came back")
plt.tight_layout()
plt.show()

# %% [markdown]
# Each broker's log end over the same stretch of time makes the gap visible. Broker 0's line stops at the crash
# above the others; broker 1 carries on from where it was; on its return broker 0 drops back (the red crosses)
# and catches up with broker 1's history, not its own.

# %%
sk.plots.replica_logs(one, window=(950, 1650))
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 2. Wait for the in-sync replicas
#
# **Predict.** With `acks="all"` the leader answers only once broker 1 and broker 2 have the batch too. The same
# crash at the same moment: how many acknowledged records are lost now? And what does the wait cost each send,
# compared with the ~5 ms of `acks=1`?

# %%
everyone = sk.scenarios.replication("acks_all", seed=0)
runs = {"acks_1": one, "acks_all": everyone}
pd.DataFrame({d: {f: r.report[f] for f in FIELDS} for d, r in runs.items()})

# %% [markdown]
# Nothing acknowledged is lost. The batches broker 0 had written and not yet answered for when it died were
# never acknowledged: the producer sent them again to broker 1, which had already copied most of them, and the
# producer's sequence numbers kept those retries from being written twice (the `duplicate_dropped` rows). The
# price is latency: a record is answered after two follower fetches (one to copy it, the next to tell the
# leader it was copied), about twenty times slower here.
#
# ## 3. When no in-sync replica is left
#
# In `acks_all_unclean`, broker 2 goes down first and leaves the ISR; the leader goes on with brokers 0 and 1,
# which is still two in-sync replicas, so `acks="all"` keeps answering. Then both die at once. Broker 2 returns
# while they are still down. It is the only live replica, and it is behind.
#
# **Predict.** With unclean election on, broker 2 leads with the log it has. What happens to the records that
# brokers 0 and 1 acknowledged while broker 2 was away? And what happens to new writes while broker 2 is the
# only member of the ISR?

# %%
unclean = sk.scenarios.replication("acks_all_unclean", seed=0)
runs["acks_all_unclean"] = unclean
pd.DataFrame({d: {f: r.report[f] for f in FIELDS} for d, r in runs.items()})

# %%
sk.plots.replica_logs(unclean)
plt.tight_layout()
plt.show()

# %% [markdown]
# Broker 2 led with what it had at 0.3 s, and brokers 0 and 1 threw away everything after that to follow it:
# over a thousand records that `acks="all"` had acknowledged. While broker 2 led alone its ISR held one replica,
# fewer than `min_insync_replicas=2`, so new writes were refused (`refused_not_enough_replicas`) until the
# others caught up. The elections in the trace say which kind each was:

# %%
t = unclean.trace
t[t.event.isin(["leader_elected", "isr_shrink", "isr_expand", "broker_down", "broker_up"])][
    ["time", "component", "event", "detail"]]

# %% [markdown]
# With unclean election off (Kafka's default), the partition would have stayed without a leader until broker 0
# or 1 came back: no writes for that time, and nothing acknowledged lost. Unclean election trades those
# acknowledged records for being writable sooner.
#
# ## 4. Over many seeds
#
# One seed could be lucky: how much `acks=1` loses depends on how long ago each follower fetched when the
# leader died. Ten seeds each (ten streams of arrivals and fetch times, the same crashes):

# %%
outcomes = sk.compare("replication", DESIGNS, seeds=10)
outcomes.groupby("design", sort=False)[["lost_acknowledged", "refused_not_enough_replicas", "latency_p50",
                                        "latency_p99"]].agg(["mean", "min", "max"]).round(1).T

# %%
means = outcomes.groupby("design", sort=False)["lost_acknowledged"].mean()
sk.plots.outcome_bars(
    outcomes, ["lost_acknowledged"], ylabel="acknowledged records lost per run (of 4,000)",
    title=f"mean of {outcomes.seed.nunique()} seeds (whiskers: min-max): acks_1 loses "
          f"{means['acks_1']:.0f}, acks_all {means['acks_all']:.0f},\n"
          f"acks_all with an unclean election {means['acks_all_unclean']:.0f}")
plt.yscale("symlog")
plt.tight_layout()
plt.show()

# %% [markdown]
# `acks=1` lost acknowledged records on every seed, from one to dozens; `acks="all"` lost none on any seed;
# the unclean election lost over a thousand every time. The axis is logarithmic: the three differ by orders of
# magnitude.
#
# ## 5. Move the crash and the replication delay
#
# Slow the followers down, move the crash, lower `min_insync_replicas` to 1. When does `acks="all"` start to
# lose records? (Hint: with `min_insync_replicas=1`, an ISR of the leader alone still accepts writes.) Here only
# one broker crashes, so two replicas stay in sync: `min_insync_replicas` 1 and 2 accept the same writes and draw
# the same figure, and only 3 refuses writes while broker 0 is down. `acks=1` never consults the setting at all.

# %%
def explore(design="acks_all", fetch_max_ms=50, min_insync_replicas=2, crash_at_s=1.0, seed=1):
    run = sk.scenarios.replication(design, seed=seed, replication_delay=sk.uniform(fetch_max_ms / 5, fetch_max_ms),
                                   min_insync_replicas=min_insync_replicas, leader_crash=(crash_at_s * 1000, 600))
    r = run.report
    sk.plots.replica_logs(run, title=f"{design}: {r['lost_acknowledged']:.0f} acknowledged records lost, "
                                     f"{r['refused_not_enough_replicas']:.0f} writes refused for too few in-sync "
                                     f"replicas,\n{r['failovers']:.0f} failover(s), p99 {r['latency_p99']:.0f} ms")
    plt.tight_layout()
    plt.show()


# same figure: min_insync_replicas because one broker down leaves two in sync, so 1 and 2 accept the same writes
sk.interact(explore, design=DESIGNS, fetch_max_ms=(10, 200, 10), min_insync_replicas=(1, 3),
            crash_at_s=(0.5, 1.5, 0.1), seed=(0, 20));

# %% [markdown]
# ## Try it yourself
#
# 1. Run `acks_all` with `min_insync_replicas=3`. What happens to writes while broker 0 is down (look at
#    `refused_not_enough_replicas` and `latency_p99`)? Is anything acknowledged lost?

# %%

# %% [markdown]
# 2. Run `acks_all_unclean` with `min_insync_replicas=1`. Are more or fewer acknowledged records lost than with
#    2? Are any writes refused? Which setting would you rather explain to the payments team?

# %%

# %% [markdown]
# ## Summary
#
# - A partition lives on several brokers: a leader that takes writes, and followers that copy it a little later.
#   The in-sync replica set holds those that keep up; consumers read only below the high watermark, what every
#   in-sync replica has.
# - `acks=1` acknowledges what only the leader has. A failover before the followers fetch it, and the returning
#   leader's truncation, lose records the application was told were written.
# - `acks="all"` with `min_insync_replicas=2` acknowledges a record only once at least two replicas have it, so
#   a clean failover loses nothing acknowledged. It costs latency, and availability when too few replicas are in
#   sync.
# - Unclean leader election lets a replica that fell behind lead. It brings the partition back sooner and throws
#   away what it never had, whatever `acks` said.
#
# ## Questions to discuss
#
# - Which of your topics hold records you could not rebuild if a failover lost the last few hundred
#   milliseconds of them? What `acks` do their producers use today?
# - Is your cluster's `min.insync.replicas` set per topic? What happens to your producers when a broker is down
#   for maintenance and a second one fails?
# - Would you rather a partition stay unwritable for ten minutes, or be writable and have lost a second of
#   acknowledged data? Who in your organisation decides?
# - `acks="all"` makes each send slower. Where in your system would that latency show, and what hides it
#   (batching, asynchronous sends)?
