# %% [markdown]
# # 12 · Throughput and scaling: partitions, consumers and queues
#
# **After this lesson you can**
#
# - predict how latency grows as a consumer gets busier, and explain why the tail explodes close to 100 %;
# - check simulated latency against the M/M/1 queueing formula, over many seeds;
# - size a consumer group: partitions are the unit of parallelism, and consumers beyond them sit idle;
# - read utilisation per consumer and consumer lag to tell "add consumers" from "add partitions" from
#   "make the handler faster".
#
# **Recap of lesson 11.** Decide the boundaries first, then how the parts talk, and only then how they are
# deployed. Scaling belongs to that last step: once a topic and its consumers exist, how many partitions and
# how many consumers does the load need, and what happens when there are too few?
#
# Throughout, records arrive at random (on average `arrival_rate` per ms) and a consumer needs a random time to
# handle each one (on average `1 / service_rate` ms; here 1 ms). Time is in **milliseconds**.

# %%
import matplotlib.pyplot as plt
import numpy as np

import simkit as sk
from simkit.scenarios.throughput import message_waits

# %% [markdown]
# ## 1. Utilisation: how busy is the consumer?
#
# With one partition and one consumer, the consumer's **utilisation** is `arrival_rate / service_rate`: the
# share of time it spends handling records. At 0.5 records per ms and 1 ms per record it is busy half the time.

# %%
half = sk.scenarios.throughput("round_robin", arrival_rate=0.5, service_rate=1.0, messages=3_000, seed=1)
print(f"busy {half.report.utilisation_max:.0%} of the time; mean latency {half.report.latency_mean:.2f} ms, "
      f"p99 {half.report.latency_p99:.1f} ms")

# %% [markdown]
# **Predict.** At 50 % busy the mean latency is about 2 ms: 1 ms of handling and 1 ms of waiting. Push the load
# to 90 % and then 95 %: the handling time per record does not change. What mean latency do you expect at 90 %,
# and at 95 %? And the p99?
#
# The cell below runs each load on 5 seeds of 20,000 records each: long enough for the queue to forget that it
# started empty.

# %%
loads = sk.sweep("throughput", {"arrival_rate": [0.3, 0.5, 0.7, 0.8, 0.9, 0.95]}, seeds=5,
                 service_rate=1.0, messages=20_000)
by_load = loads.groupby("arrival_rate")[["latency_mean", "theory_latency_mean", "latency_p99"]].mean()
for rate in (0.5, 0.9, 0.95):
    print(f"{rate:.0%} busy: mean latency {by_load.latency_mean[rate]:.1f} ms, p99 {by_load.latency_p99[rate]:.1f} ms")
by_load.round(1)

# %% [markdown]
# With one partition and one consumer, this system is the textbook **M/M/1 queue**, whose mean time in the
# system is `1 / (service_rate - arrival_rate)` and whose p99 is `ln(100) / (service_rate - arrival_rate)`. The
# simulator was never told either formula: in the figure the dots come from the trace, the lines from theory,
# and the line under it says how far apart they are.

# %%
sk.plots.latency_vs_load(loads)
plt.show()
theory_p99 = np.log(100) / (1.0 - by_load.index.to_numpy())
mean_off = (by_load.latency_mean / by_load.theory_latency_mean - 1).abs().max()
p99_off = by_load.latency_p99 / theory_p99 - 1
print(f"simulated against theory: means within {mean_off:.1%} at every load; p99 within {p99_off[:-1].abs().max():.1%} "
      f"up to 90 % busy, {p99_off.iloc[-1]:+.0%} at 95 %")

# %% [markdown]
# The curve is flat for a long while and then bends upwards: in theory, going from 90 % to 95 % busy doubles
# the mean latency (from 10 to 20 ms), though each record still takes 1 ms to handle. Every extra record of load is added to a queue that
# has ever less idle time to drain in. Notice also the whiskers: near saturation, one seed differs from the
# next by a factor of two or more, because a single long burst dominates a run. A service that is "only 90 %
# busy" is already in the steep part of the curve.
#
# ## 2. Partitions are the unit of parallelism
#
# A consumer group shares out a topic's partitions: each partition goes to exactly one member, so a topic with
# three partitions can keep at most three consumers busy. Which member gets which partition is decided by the
# group's *assignor*; simkit follows Kafka's own rules, so you can check them by hand:

# %%
topics = {"events": 3}
print("2 consumers, range:      ", sk.assign_range(["consumer-0", "consumer-1"], topics))
print("2 consumers, round robin:", sk.assign_round_robin(["consumer-0", "consumer-1"], topics))
print("4 consumers, range:      ", sk.assign_range([f"consumer-{i}" for i in range(4)], topics))

# %% [markdown]
# **Predict.** A topic with 3 partitions receives 1.8 records per ms, spread evenly (0.6 per ms on each
# partition); each record takes 1 ms. With 1, 2, 3, 4 and 6 consumers in the group: which groups keep up? How
# busy is each consumer? (Look at the assignment above for the case of 2.)

# %%
group_sizes = [1, 2, 3, 4, 6]
runs = {f"{n} consumer{'s' if n > 1 else ''}": sk.scenarios.throughput("round_robin", arrival_rate=1.8,
                                                                       service_rate=1.0, partitions=3, consumers=n,
                                                                       messages=1_000, seed=1)
        for n in group_sizes}
for label, run in runs.items():
    busy = run.series["utilisation"]
    shares = ", ".join(f"{u:.0%}" if n else "idle" for u, n in zip(busy.utilisation, busy.records))
    print(f"{label:>11}: busy {shares}; p99 latency {run.report.latency_p99:.0f} ms")
runs["2 consumers"].series["utilisation"]

# %%
sk.plots.utilisation_bars(runs)
plt.show()

# %% [markdown]
# One consumer would need to be busy 180 % of the time: it falls further behind with every record. Two
# consumers are not enough either, though 2 × 100 % is more than 180 %: a partition cannot be split, so one
# of them owns two partitions (1.2 records per ms of work) while the other owns one (0.6) and has time to
# spare. From three consumers on, every partition has its own consumer; the fourth and sixth have no partition
# at all and do nothing, however far behind the others might be.
#
# Now the same comparison over 5 seeds, as latency. For the saturated groups the number depends on how long
# the run lasts: their queue never drains, so every extra second of load adds to it.

# %%
by_group = sk.sweep("throughput", {"consumers": group_sizes}, seeds=5, arrival_rate=1.8, service_rate=1.0,
                    partitions=3, messages=1_000)
p99 = by_group.groupby("consumers")["latency_p99"].mean()
too_few = {n: sk.plots.RED if n < 3 else sk.plots.BLUE for n in group_sizes}  # red: too few to keep up
ax = sk.plots.outcome_bars(
    by_group, "latency_p99", by="consumers", ylabel="p99 latency (ms, log scale)", colors=too_few,
    title=(f"p99 latency over 5 seeds: {p99[1]:.0f} ms with 1 consumer, {p99[2]:.0f} ms with 2, "
           f"{p99[3]:.1f} ms with 3;\n{p99[6]:.1f} ms with 6: consumers beyond 3 partitions buy nothing"))
ax.set_yscale("log")
ax.set_xlabel("consumers in the group (topic with 3 partitions)")
ax.figure.set_size_inches(8, 4.5)
ax.figure.tight_layout()
plt.show()

# %% [markdown]
# The lesson for sizing: the number of partitions is a ceiling on parallelism that you choose when you create
# the topic, and raising it later moves keys to other partitions (lesson 05 shows what that does to ordering).
# Choose it for the peak you expect, not today's load.
#
# ## 3. One run near saturation
#
# Two partitions, two consumers, 1.8 records per ms: each consumer is busy about 90 % of the time, and keeps
# up on average. First the whole run: the lag (records appended but not yet handled) and each record's
# latency.

# %%
near = sk.scenarios.throughput("round_robin", arrival_rate=1.8, service_rate=1.0, partitions=2, consumers=2,
                               messages=2_000, seed=1,
                               commit="after_processing")
sk.plots.load_panels(near)
plt.show()

# %% [markdown]
# **Predict.** Each record takes about 1 ms to handle. How long did the unluckiest of these 2,000 records wait
# before its handler started, and behind how many others?

# %%
sk.plots.message_timeline(near)  # marks the record that waited longest
plt.show()
waits = message_waits(near.trace)
worst = waits.loc[waits.waited_ms.idxmax()]
print(f"the unluckiest record waited {worst.waited_ms:.1f} ms, behind {worst.ahead:.0f} records, "
      f"for {worst.handled_ms:.1f} ms of its own handling")

# %% [markdown]
# Its own handling is a sliver at the end; everything before it is queue. (The producer falls silent on the
# right because the run ends after 2,000 records.) The orange bars are the records its
# consumer handled while it waited, and the other consumer cannot help: it owns the other partition. Near
# saturation, a burst of arrivals takes a long time to drain, because the consumer has little idle time left
# to catch up with.
#
# ## 4. Try it
#
# Move the controls. The producer sends for 500 ms at every rate (so the faster it sends, the more records),
# and the left panel's title says whether the lag keeps coming back to zero while it is still sending. Find the
# arrival rate where it stops doing so. Then add partitions without consumers, and consumers without
# partitions: which one helps?

# %%
def explore(arrival_rate=1.6, partitions=2, consumers=2, seed=1):
    r = sk.scenarios.throughput("round_robin", arrival_rate=arrival_rate, service_rate=1.0, partitions=partitions,
                                consumers=consumers, messages=round(arrival_rate * 500), seed=seed)
    sk.plots.load_panels(r)
    plt.show()


sk.interact(explore, arrival_rate=(0.2, 4.0, 0.1), partitions=(1, 6), consumers=(1, 6), seed=(0, 20));

# %% [markdown]
# ## Try it yourself
#
# 1. With `service_rate=1.0`, find the arrival rate at which the p99 latency of one partition passes 20 ms.
#    Compare with the M/M/1 prediction `ln(100) / (service_rate - arrival_rate)`.

# %%

# %% [markdown]
# 2. Keep the load at 1.5 records per ms. Compare 2 partitions with 3 consumers against 3 partitions with 3
#    consumers, over 5 seeds. Which has the lower p99, and why? (`series["utilisation"]` helps.)

# %%

# %% [markdown]
# ## Summary
#
# - Utilisation is arrival rate over service rate per consumer; latency grows like `1 / (1 - utilisation)`, so
#   it explodes as a consumer nears 100 % busy, and the tail grows faster than the mean.
# - The simulated mean latencies match M/M/1 theory within a few percent at every load, and the p99 up to 90 %
#   busy. At 95 % even 20,000 records are too few for the p99: the runs start with an empty queue and rarely
#   meet the long bursts that make theory's tail. The spread over seeds widens near saturation.
# - Partitions are the unit of parallelism: a group uses at most one consumer per partition; the rest sit idle.
# - An uneven split (more partitions than consumers, not a multiple) can saturate one consumer while another
#   idles.
# - Lag that keeps growing means too little capacity; lag that comes and goes means bursts meeting a busy
#   consumer.
#
# ## Questions to discuss
#
# 1. What utilisation do your consumers run at during peak hours, and do you know the p99 latency there?
# 2. How did you choose the number of partitions for your busiest topic, and what would it cost to change it?
# 3. When lag alerts fire in your systems, how do you tell "we need more consumers" from "we need more
#    partitions" from "the handler got slower"?
# 4. Where would you rather spend money: more consumers at lower utilisation, or a faster handler?
