# %% [markdown]
# # 15 · Rebalances you can see: eager, cooperative, static members and zombies
#
# **After this lesson you can**
#
# - say what a consumer group does when a member joins, leaves or goes quiet, and what "generation" means;
# - measure the stop-the-world pause of the eager protocol and compare it with KIP-429's cooperative protocol;
# - explain why a member that restarts quickly costs a rebalance, and how static membership (KIP-345) avoids it;
# - recognise a zombie: a member evicted by `max.poll.interval.ms` that finishes its work anyway, has its commit
#   refused, and whose record is handled a second time by the new owner.
#
# **Where we are.** Lesson 04 showed what a crash does to the offsets a group has committed. Crashes are not
# the only thing that moves partitions: every time the set of members changes, the group *rebalances*. This
# lesson watches that happen.
#
# The story: an `orders` topic with 6 partitions, about one order every 4 ms, and a billing service whose
# consumers take 10 ms per order. Two consumers run from the start; a third joins at 1 s (scaling out); at
# 2.5 s `consumer-0` crashes and is restarted 300 ms later. Each consumer stores an order's offset once it is
# billed and a timer commits (`store_offsets`, lesson 04).

# %%
import matplotlib.pyplot as plt

import simkit as sk

# %% [markdown]
# ## 1. The classic protocol stops the world
#
# With the eager protocol (Kafka's `range` and `roundrobin` assignors), every member gives up **all** its
# partitions when a rebalance starts, and nobody gets any back until every member has rejoined. A member
# rejoins at its next poll, so one member busy with a batch holds up the whole group.
#
# **Predict.** Add up, over the 6 partitions, the time each one has no consumer during this run (the report
# calls it `pause_total`). After the start-up, membership changes twice (the scale-out and the restart). Is the
# total closer to 100 ms, 1 s or 5 s?

# %%
eager = sk.scenarios.rebalance("eager", seed=1)
r = eager.report
print(f"{r.rebalances} rebalances, partitions without a consumer for {r.pause_total:.0f} ms in total "
      f"(the longest {r.pause_max:.0f} ms); {r.lost} lost, {r.duplicates} handled twice")

# %% [markdown]
# Seconds. Two things make it long. At the scale-out, members give up everything and wait for the slowest one
# to finish its batch. At the restart, the restarted consumer is a *new* member: the group waits for the old
# member's session to time out (`session_timeout`, 1 s here) before the rebalance can finish, and until then
# the crashed member's partitions have nobody.
#
# The picture: one dot per record handled, one row per partition, coloured by the consumer that handled it.
# The gaps are the pauses.

# %%
fig, ax = plt.subplots(figsize=(12, 3.5), layout="constrained")
sk.plots.partition_owners(eager, ax, f"eager: {eager.report.pause_total:.0f} ms of partition pauses")
plt.show()

# %% [markdown]
# ## 2. Cooperative rebalancing moves only what must move
#
# KIP-429's incremental cooperative protocol (`partition.assignment.strategy=cooperative-sticky`) keeps members
# consuming while they rejoin. The assignor keeps each member's partitions where balance allows, and leaves out
# the partitions that change hands. Their old owner gives them up, and a *second* round hands them to the new
# owner. So there are more rebalances, and each one stops only the partitions that move.
#
# **Predict.** Same seed, same scale-out, same crash. Will `cooperative_sticky` have more or fewer rebalances
# than eager? Will the total pause be smaller, and can it remove the wait for the crashed member's session?

# %%
coop = sk.scenarios.rebalance("cooperative_sticky", seed=1)
for name, run in {"eager": eager, "cooperative_sticky": coop}.items():
    r = run.report
    print(f"{name:>18}: {r.rebalances} rebalances, pause {r.pause_total:5.0f} ms in total, "
          f"longest {r.pause_max:4.0f} ms, mean latency {r.latency_mean:4.0f} ms")

# %%
fig, axes = plt.subplots(2, 1, figsize=(12, 6), sharex=True, layout="constrained")
sk.plots.partition_owners(eager, axes[0], f"eager: {eager.report.pause_total:.0f} ms of partition pauses")
sk.plots.partition_owners(coop, axes[1], f"cooperative_sticky: {coop.report.pause_total:.0f} ms of partition pauses")
axes[0].set_xlabel("")
plt.show()

# %% [markdown]
# More rounds, less waiting: partitions that stay put never stop. The longest pause is still the crashed
# member's session timeout, because no protocol can give away partitions it still thinks are owned by a live
# member until it learns that the member is gone.
#
# ## 3. Static membership: a restart is not a new member
#
# With `group.instance.id` set (KIP-345), the coordinator knows a member by a name that survives a restart. When
# `consumer-0` comes back within the session timeout, it takes its old place and its old partitions, with no
# rebalance. Its partitions pause only while it is down.
#
# **Predict.** How many rebalances now, and how long is the longest pause, compared with the 300 ms the
# consumer is down?

# %%
static = sk.scenarios.rebalance("static_membership", seed=1)
r = static.report
print(f"{r.rebalances} rebalances, pause {r.pause_total:.0f} ms in total, longest {r.pause_max:.0f} ms")
t = static.trace
t[(t.component == "group:billing") & (t.event == "join")][["time", "detail"]]

# %% [markdown]
# The join at about 2.8 s says `replaces`: the restarted process took over its old member's place, and no
# `assign` row follows it. Its partitions paused for the 300 ms it was down, plus their share of the scale-out
# rebalance. The price: while it is down its partitions wait for it, up to the whole session timeout, instead
# of moving to a live member.
#
# ## 4. Over many seeds
#
# **Predict.** Over ten seeds, rank the three designs by total pause. Does any design lose records?

# %%
designs = list(sk.scenarios.SCENARIOS["rebalance"].designs)
runs = sk.compare("rebalance", designs, seeds=10)
runs.groupby("design", sort=False)[["rebalances", "pause_total", "pause_max", "lost", "duplicates"]].mean()

# %%
fig, ax = plt.subplots(figsize=(10, 3.5), layout="constrained")
pauses = runs.groupby("design", sort=False)["pause_total"].mean()
sk.plots.outcome_bars(runs, "pause_total", ax=ax, ylabel="partition pauses\nper run (ms, mean, min-max)",
                      title=f"time partitions spent without a consumer, mean of {runs.seed.nunique()} seeds:\n"
                            + ", ".join(f"{d} {ms:.0f} ms" for d, ms in pauses.items()))
plt.show()

# %% [markdown]
# No design loses anything: every member stores offsets only after the work and commits them when it gives up
# partitions. The records handled twice all come from the crash: what was billed since the last timer tick.
#
# ## 5. A slow member becomes a zombie
#
# A member must call `poll()` at least every `max.poll.interval.ms` (5 minutes in Kafka). If one record takes
# longer (a slow call, a long pause), the client leaves the group on its own. Its partitions move to another
# member, which starts from the last commit, while the slow member is still working on the record. When it
# finishes, its commit is refused (its generation is stale): it is a *zombie*.
#
# **Predict.** Order 150 takes 1.5 s more, the first time, and the deadline is 1 s. How many times is order 150
# billed? Which consumers bill it, and in what order?

# %%
zombie = sk.scenarios.rebalance("eager", seed=1, max_poll_interval=1000, slow_time=1500, slow_record=150)
z = zombie.trace
print(z[(z.event == "leave") & z.detail.str.contains("max_poll")][["time", "detail"]].to_string(index=False))
print(z[(z.event == "side_effect") & (z.msg_id == 150)][["time", "component"]].to_string(index=False))
print(f"commits refused from a stale generation: {zombie.report.commits_refused}")

# %% [markdown]
# Twice: first by the new owner, then by the zombie, which never learned in time that the order was not its
# own any more. The timeline follows order 150 through both consumers.

# %%
sk.plots.anomaly_timeline(zombie, "duplicates", example=list(zombie.checks["duplicates"].examples).index(150))
plt.show()

# %% [markdown]
# A refused commit is the only trace of a zombie a client reports (`CommitFailedException` in Java). The side
# effect has happened twice. Only an idempotent handler (lesson 06) makes that harmless.
#
# ## 6. Try it
#
# Choose a design, the session timeout and how long the crashed consumer stays down. When does a static member
# stop helping?

# %%
def explore(design="static_membership", session_timeout=1000, restart_delay=300, seed=1):
    res = sk.scenarios.rebalance(design, session_timeout=session_timeout, restart_delay=restart_delay, seed=seed)
    fig, ax = plt.subplots(figsize=(12, 3.5), layout="constrained")
    r = res.report
    sk.plots.partition_owners(res, ax, f"{design}: {r.rebalances} rebalances, {r.pause_total:.0f} ms of pauses, "
                       f"longest {r.pause_max:.0f} ms;\ncrashed member: {sk.plots.session_outcome(res)}")
    plt.show()


sk.interact(explore, design=designs, restart_delay=(50, 2000, 50), session_timeout=(200, 3000, 100),
            seed=(0, 20));

# %% [markdown]
# ## Try it yourself
#
# 1. With `static_membership`, set `restart_delay` above `session_timeout`. What happens to the rebalances and
#    the pauses, and why?

# %%

# %% [markdown]
# 2. Run the zombie again with `max_poll_interval=2000`. Is order 150 still billed twice? What does that tell you
#    about choosing `max.poll.interval.ms`?

# %%

# %% [markdown]
# ## Summary
#
# - Every change of membership is a rebalance. With the eager protocol every partition stops until every member
#   has rejoined: the pause grows with the slowest member's batch and with the session timeout of a dead one.
# - Cooperative rebalancing (KIP-429) takes two rounds but stops only the partitions that move.
# - Static membership (KIP-345) lets a member restart without a rebalance, if it comes back within the session
#   timeout; its partitions wait for it meanwhile.
# - A member that misses `max.poll.interval.ms` is evicted while it may still be working: its late commit is
#   refused and its record is handled again elsewhere. Handlers must be safe to run twice.
#
# ## Questions to discuss
#
# 1. How often do your consumer groups rebalance (deployments, autoscaling, restarts)? How long does each one
#    stop consumption?
# 2. Which of your consumers could move to the cooperative protocol? What has to change in the code that reacts
#    to partitions being revoked?
# 3. Where would static membership help you (a rolling deployment, Kubernetes pods with stable names), and what
#    would it cost when a pod really dies?
# 4. Could one of your handlers take longer than `max.poll.interval.ms`? What would it do twice?
