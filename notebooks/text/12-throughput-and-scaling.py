# %% [markdown]
# # 00 · A broker you can watch: partitions, consumers, the trace and queueing
#
# **What this lesson covers**
#
# - the pieces every later lesson uses: a *topic* split into *partitions*, a *producer*, a *consumer group*;
# - the **trace**: one row per step of every message, which you can open as a pandas DataFrame and search;
# - why latency climbs steeply as a consumer gets busy (queueing), checked against the textbook formula;
# - what happens with more consumers than partitions.
#
# **How to use the kit.** Every lesson runs *scenarios*: small simulated systems you can run again and again.
# A run is fully determined by its parameters and its `seed`: run it twice, get the same story twice. Nothing in
# the simulator loses, reorders or duplicates a message by rolling dice; when that happens in later lessons, it is
# because the design let it happen, and the trace shows where.
#
# Time is always in **milliseconds**.

# %%
import matplotlib.pyplot as plt
import ipywidgets as widgets

import simkit as sk

# %% [markdown]
# ## 1. One partition, one consumer
#
# Records arrive at random (on average `arrival_rate` per ms), and the consumer needs a random time to handle
# each one (on average `1 / service_rate` ms). The report sums up the run.

# %%
run = sk.scenarios.throughput(arrival_rate=0.5, service_rate=1.0, messages=5_000, seed=1)
run.report

# %% [markdown]
# ## 2. The trace is the truth
#
# Everything in the report was computed from the trace. Each row is one step: the application handing a record
# to the producer (`send`), the broker writing it to a partition (`append`), the consumer fetching, starting and
# finishing it (`fetch`, `process`, `processed`), committing offsets (`commit`). `sk.EVENTS` explains every name.

# %%
trace = run.trace
trace.head(10)

# %%
# follow one message from end to end
trace[trace.msg_id == 42]

# %%
for name in ["send", "append", "fetch", "process", "processed", "commit"]:
    print(f"{name:>10}: {sk.EVENTS[name]}")

# %% [markdown]
# ## 3. Latency is mostly waiting
#
# The latency of a record runs from `send` to `processed`. At half load, the consumer is idle half the time,
# yet many records still wait behind others: the tail is several times the median.

# %%
fig, axes = plt.subplots(1, 2, figsize=(13, 4))
sk.plots.latency_cdf({"one consumer, 50% busy": run}, ax=axes[0])
sk.plots.lag_over_time(run, ax=axes[1])
plt.show()

# %% [markdown]
# Now push the load up. With one partition and one consumer this simulated system *is* the classic M/M/1
# queue, whose mean time in system is `1 / (service_rate - arrival_rate)`. The simulator was never told that
# formula; the points come from the trace, the line from theory.

# %%
loads = sk.sweep("throughput", {"arrival_rate": [0.2, 0.4, 0.6, 0.7, 0.8, 0.9]}, seeds=3,
                 service_rate=1.0, messages=4_000)
loads[["arrival_rate", "seed", "latency_mean", "theory_latency_mean", "latency_p99"]].head()

# %%
sk.plots.latency_vs_load(loads)
plt.show()

# %% [markdown]
# ## 4. Partitions are the unit of parallelism
#
# A consumer group shares out the partitions of a topic: each partition goes to exactly one member. Three
# partitions can keep at most three consumers busy; a fourth and fifth consumer sit idle however hard the
# partitions work.

# %%
rows = []
for consumers in [1, 2, 3, 5]:
    r = sk.scenarios.throughput(arrival_rate=1.5, service_rate=1.0, partitions=3, consumers=consumers,
                                messages=3_000, seed=1)
    rows.append({"consumers": consumers, "idle_consumers": r.report.idle_consumers,
                 "latency_p99": r.report.latency_p99})
rows

# %% [markdown]
# Which member gets which partition is decided by the group's *assignor*. simkit uses Kafka's own rules, so
# you can check them by hand:

# %%
topics = {"orders": 3, "payments": 2}
print("range:      ", sk.assign_range(["consumer-a", "consumer-b"], topics))
print("round robin:", sk.assign_round_robin(["consumer-a", "consumer-b"], topics))

# %% [markdown]
# Keyed records go to the partition Kafka's Java client would pick (murmur2 of the key bytes), so the same
# user always lands on the same partition:

# %%
[(user, sk.partition_for(user, 3)) for user in ["user-1", "user-2", "user-3", "user-1"]]

# %% [markdown]
# ## 5. One seed, one history
#
# Run the same scenario twice with the same seed: the traces are identical, row for row. Change the seed and
# you get another, equally likely history. This is what lets a later lesson say *"this design lost 7 messages
# and that one lost none, on the same arrivals and the same crashes"*.

# %%
a = sk.scenarios.throughput(0.8, 1.0, messages=1_000, seed=7).trace
b = sk.scenarios.throughput(0.8, 1.0, messages=1_000, seed=7).trace
c = sk.scenarios.throughput(0.8, 1.0, messages=1_000, seed=8).trace
print("same seed, same trace:", a.equals(b), "| other seed, same trace:", a.equals(c))


# %% [markdown]
# ## 6. Try it
#
# Move the sliders: how busy can the consumers get before the lag runs away? What do extra consumers buy
# when there are fewer partitions than consumers?

# %%
def explore(arrival_rate=0.8, partitions=2, consumers=2, seed=1):
    r = sk.scenarios.throughput(arrival_rate, 1.0, partitions=partitions, consumers=consumers,
                                messages=2_000, seed=seed)
    sk.plots.lag_over_time(r)
    plt.show()
    print(r.report)


widgets.interact(explore, arrival_rate=(0.1, 3.0, 0.1), partitions=(1, 6), consumers=(1, 8), seed=(1, 20));

# %% [markdown]
# ## What to remember
#
# - A topic is split into partitions; each partition is an ordered log, and each is read by one member of a group.
# - Latency is dominated by waiting once consumers get busy; the tail grows much faster than the average.
# - Consumers beyond the number of partitions do nothing.
# - Every number in the kit comes from the trace, and every run can be replayed exactly from its seed.
#
# ## Exercises
#
# 1. With `service_rate=1.0`, find the arrival rate at which the p99 latency of one partition passes 20 ms.
#    Compare with the M/M/1 prediction: its time in system is exponential, so p99 = ln(100) / (mu - lambda).

# %%

# %% [markdown]
# 2. Keep the total load at 1.5 records per ms. Compare 2 partitions with 3 consumers against 3 partitions with
#    3 consumers. Which has the lower p99, and why?

# %%
