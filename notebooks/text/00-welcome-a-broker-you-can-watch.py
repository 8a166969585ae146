# %% [markdown]
# # 00 · Welcome: a broker you can watch
#
# **After this lesson you can**
#
# - say what a discrete-event simulation does, and where simkit uses randomness (and where it never does);
# - run a simkit scenario and read its trace as a pandas DataFrame: follow one message, count the steps;
# - draw one message's life on a timeline and say where its time went;
# - compare two set-ups over many seeds and read the spread instead of trusting one lucky run;
# - find your way to the lesson that shows the failure you care about.
#
# **How to use these notebooks.** Run the cells from top to bottom (Shift-Enter). Nothing here needs a real
# broker: every system you meet is simulated, so it runs in a second and can be run again exactly. Where a cell
# starts with **Predict.**, make your guess (out loud, or on paper) *before* you run the next cell. That guess is
# where the learning happens.
#
# Time is always in **milliseconds** (ms) in simkit.

# %%
import matplotlib.pyplot as plt

import simkit as sk

# %% [markdown]
# ## 1. What a discrete-event simulation is
#
# A real system keeps time continuously. A *discrete-event* simulation does not: it keeps a list of things that
# are due to happen ("record 7 arrives at 9.5 ms", "the consumer finishes record 6 at 10.1 ms"), jumps its clock
# straight to the next one, lets it happen (which may put new things on the list), and jumps again. Nothing
# happens between two events, so a simulated minute costs only as much as the events in it.
#
# simkit (built on the [SimPy](https://simpy.readthedocs.io) library) simulates Kafka-style parts: a producer, a
# broker holding a *topic* split into *partitions* (each an ordered log), and a *consumer group* whose members
# share out the partitions and handle the records.
#
# Three rules keep it honest, and every later lesson leans on them:
#
# 1. **Randomness only where the world is random**: when records arrive, how long a network hop or a handler
#    takes, and *when* a component crashes. Each of these draws from its own named random stream, started from
#    the run's `seed`.
# 2. **Failures come from mechanisms, never from dice.** No line of simkit says "lose this message with
#    probability 1 %". When a later lesson loses, repeats or reorders a message, it is because a crash struck
#    at a moment the design did not protect, and the trace shows which moment.
# 3. **One seed, one history.** The same parameters and seed give the same run, row for row, on any machine.
#
# ## 2. One run
#
# Our first system: records arrive at random, on average 0.8 per ms (800 per second), into a topic with two
# partitions. One consumer handles them; each record takes it a random time, on average 1 ms
# (`service_rate=1.0` per ms). So the consumer is busy about 80 % of the time. It commits each record's offset
# right after handling it (lesson 04 shows what the other commit choices cost).

# %%
run = sk.scenarios.throughput("round_robin", arrival_rate=0.8, service_rate=1.0, partitions=2, consumers=1,
                              messages=300, seed=1, commit="after_processing")
run.report

# %% [markdown]
# The report holds plain numbers: 300 records produced and processed, none lost or duplicated, and the latency
# of a record (from `send` to `processed`) as a mean and percentiles: `latency_p99` is the time within which
# 99 % of records were done. `utilisation_max` is the share of the run the (busiest) consumer spent handling
# records: about 0.8, as planned.
#
# ## 3. The trace is a DataFrame
#
# Every number in the report was computed from the **trace**: one row per step of every record, in time order.
# `run.trace` is an ordinary pandas DataFrame, so everything you know about pandas works on it.

# %%
trace = run.trace
trace.head(12)

# %% [markdown]
# Look at the `time` column: the clock jumps from one event to the next, exactly as section 1 described.
# Each `event` has a fixed meaning; `sk.EVENTS` explains them all:

# %%
for name in ["send", "append", "fetch", "process", "processed", "commit"]:
    print(f"{name:>10}: {sk.EVENTS[name]}")

# %% [markdown]
# Follow one message by filtering on its id:

# %%
trace[trace.msg_id == 42]

# %% [markdown]
# There is no `fetch` or `commit` row here: a poll can bring many records and a commit covers a partition up to
# an offset, so those rows carry no message id. (The timeline in section 4 matches them to the message for you.)

# %% [markdown]
# **Predict.** 300 records went through. How many rows of each event do you expect: 300 of everything? Think
# about `fetch` in particular: one poll of the broker can return several records at once.

# %%
trace.groupby("event").size()

# %% [markdown]
# Fewer `fetch` rows than records: when records pile up, one poll brings back all that are waiting (up to
# `max_poll_records`, 500 by default), and the consumer then handles them one after another.
#
# ## 4. Where did the time go?
#
# A record's latency has two parts: **waiting** (from `send` until its handler starts, `process`) and
# **handling** (from `process` to `processed`). One `pivot_table` turns the trace into one row per message and
# one column per step:

# %%
steps = trace.pivot_table(index="msg_id", columns="event", values="time", aggfunc="first")
steps["waited_ms"] = steps["process"] - steps["send"]
steps["handled_ms"] = steps["processed"] - steps["process"]
steps[["waited_ms", "handled_ms"]].describe().round(2)

# %% [markdown]
# **Predict.** Handling takes about 1 ms on average, and the consumer is idle one fifth of the time. How long
# did the *unluckiest* of the 300 records wait before its handler even started: about 1 ms, 5 ms, or 20 ms?
# And why would it wait at all, if the consumer has spare time?

# %%
longest = steps["waited_ms"].idxmax()
print(f"message {longest} waited {steps.loc[longest, 'waited_ms']:.1f} ms "
      f"and was handled in {steps.loc[longest, 'handled_ms']:.1f} ms")

sk.plots.message_timeline(run, longest)
plt.show()

# %% [markdown]
# How to read it: one lane per component, time to the right. The red circles are our message's steps:
# `send` (the producer), `append` (the broker writes it to its partition), `fetch` (the consumer's poll brings
# it), `process`, `processed` and `commit` (send and append fall at the same instant because this network
# adds no delay, so all of the latency is the consumer's doing). The pink band is the time it spent waiting; the orange bars are the
# records the consumer handled during that band. Spare time *on average* does not help when a burst of
# arrivals meets a few slow records: the queue builds up, and whoever arrives then waits behind all of it.
# (Lesson 12 measures how fast this gets worse as a consumer gets busier.)
#
# ## 5. One seed, one history
#
# Run the same scenario twice with the same seed and you get the same trace, row for row. Change the seed and
# you get another history, just as likely.

# %%
def small_run(seed, consumers=1):
    return sk.scenarios.throughput("round_robin", arrival_rate=0.8, service_rate=1.0, partitions=2,
                                   consumers=consumers, messages=300, seed=seed,
                                   commit="after_processing")


a, b, c = small_run(seed=1).trace, small_run(seed=1).trace, small_run(seed=2).trace
print("same seed, same trace:       ", a.equals(b))
print("another seed, same trace:    ", a.equals(c))

# %% [markdown]
# Each kind of randomness has its own stream. Arrivals come from the stream named `"arrivals"`, handling times
# from each consumer's own stream. So with one seed, a group of **two** consumers sees exactly the same
# arrivals as a group of one: any difference between the two runs is caused by the design, not by luck.

# %%
one, two = small_run(seed=1, consumers=1).trace, small_run(seed=1, consumers=2).trace
sends_one = one.loc[one.event == "send", "time"].to_numpy()
sends_two = two.loc[two.event == "send", "time"].to_numpy()
print("same arrival times with 1 and 2 consumers:", (sends_one == sends_two).all())

# %% [markdown]
# ## 6. Never trust one run
#
# One seed is one history, and it may be a lucky one. Whenever simkit compares designs, it runs each on many
# seeds and shows the spread.
#
# **Predict.** Add a second consumer to the group: each of the two partitions now has a consumer of its own,
# and each consumer is busy only about 40 % of the time instead of 80 %. Does the p99 latency halve, fall by
# more than half, or by less? Will every one of 10 seeds agree?

# %%
by_seed = sk.sweep("throughput", {"consumers": [1, 2]}, seeds=10, arrival_rate=0.8, service_rate=1.0,
                   partitions=2, messages=1_000, commit="after_processing")
by_seed.groupby("consumers")[["latency_p50", "latency_p99"]].agg(["mean", "min", "max"]).round(1)

# %%
p99 = by_seed.groupby("consumers")["latency_p99"]
ax = sk.plots.outcome_bars(
    by_seed, ["latency_p50", "latency_p99"], by="consumers", ylabel="latency (ms)",
    title=(f"a second consumer cuts p99 latency from {p99.mean()[1]:.1f} to {p99.mean()[2]:.1f} ms "
           f"({p99.mean()[1] / p99.mean()[2]:.1f}x);\nworst seed {p99.max()[1]:.1f} ms with one, "
           f"{p99.max()[2]:.1f} ms with two (bars: mean of 10 seeds, whiskers: lowest to highest)"))
ax.set_xlabel("consumers in the group (topic with 2 partitions)")
ax.figure.set_size_inches(8, 4.5)
ax.figure.tight_layout()
plt.show()

# %% [markdown]
# Halving the work per consumer cut the tail by much more than half: waiting, not handling, was most of the
# latency. The whiskers show how far one seed can stray from another, which is why a single run is never the
# evidence in this kit.
#
# ## 7. Try it
#
# Move the controls: how busy can one consumer get before some record waits 30 ms? What does the second
# consumer change? Change the seed to see another history of the same system.

# %%
def explore(arrival_rate=0.8, consumers=1, seed=1):
    r = sk.scenarios.throughput("round_robin", arrival_rate=arrival_rate, service_rate=1.0, partitions=2,
                                consumers=consumers, messages=300, seed=seed,
                                commit="after_processing")
    sk.plots.message_timeline(r)  # marks the message that waited longest
    plt.show()
    print(f"mean latency {r.report.latency_mean:.1f} ms, p99 {r.report.latency_p99:.1f} ms")


sk.interact(explore, arrival_rate=(0.2, 1.2, 0.05), consumers=[1, 2], seed=(0, 20));

# %% [markdown]
# ## Where the lessons go next
#
# Each lesson runs a design that fails, shows the failure in the trace and on a timeline, applies a fix, and
# compares the two over many seeds.
#
# | # | lesson | what you will see |
# |---|---|---|
# | 01 | read your own writes | why a profile update must be synchronous, with events for everyone else |
# | 02 | request-response and call chains | a request over a broker is slow RPC, and every hop adds to it |
# | 03 | lost messages: dual write and outbox | a crash between a database write and a publish loses events; the outbox does not |
# | 04 | commit policies | committing before the work is done loses records; committing after repeats them |
# | 05 | ordering and hot keys | order holds only within a partition; keys, retries and hot keys |
# | 06 | idempotent consumers | repeated records cause repeated side effects, and how to stop them |
# | 07 | schema drift | a producer's change breaks old consumers; a schema registry refuses it first |
# | 08 | poison messages, dead letters, lag and replay | one bad record blocks a partition; dead-letter topics and replays |
# | 09 | broker outage | what a broker outage does to an all-asynchronous design, and to one with a synchronous core |
# | 10 | workflows, not rollbacks | business events and reactions where a rollback cannot undo a charge |
# | 11 | boundaries, then communication, then deployment | one deployable with clear boundaries against six services |
# | 12 | throughput and scaling | partitions, consumers, and why latency explodes near saturation |
#
# Exercise 01 (after lesson 06) asks you to write an idempotent handler, which simkit then crashes at every
# point it can and grades.
#
# ## Summary
#
# - A discrete-event simulation jumps its clock from event to event; simkit uses it to run Kafka-style systems
#   in a fraction of a second.
# - Randomness enters only through arrivals, latencies, handling times and crash times, each from its own named
#   seeded stream; losses, repeats and reorderings come from mechanisms the trace shows.
# - The trace is a pandas DataFrame: filter a message, group by event, pivot to one row per message.
# - Most of a record's latency can be waiting, not handling: a queue builds up in bursts even when the consumer
#   has spare time on average.
# - One seed gives one history; compare designs over many seeds and look at the spread.
#
# ## Questions to discuss
#
# 1. In a system you run, which latency would you rather know: the mean or the p99? Who notices the difference?
# 2. When a test of your system "fails sometimes", what would it take to replay that exact failure, as a seed
#    replays a simkit run?
# 3. Which parts of your own architecture would you most like to watch step by step, as the timeline above
#    shows one message?
