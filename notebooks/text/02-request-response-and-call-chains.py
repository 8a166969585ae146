# %% [markdown]
# # 02 · Request and response: call when you need the answer, and mind the chain
#
# **After this lesson you can**
#
# - say why a request and its reply sent through a broker are a slower call with a longer tail, and name the
#   steps that add the time;
# - find the slowest request of a run and read, hop by hop, where its milliseconds went;
# - predict how a chain of synchronous calls moves the mean and, by more, the p99 of what the user waits for;
# - decide per interaction whether to call (the caller needs the answer now) or to write and publish an event
#   (the others can do their part later).
#
# **Where we are.** Lesson 01 put the profile write back in the request: a user who saves a change and looks
# again must see it, so that write is synchronous, and a `ProfileChanged` event tells the CRM and analytics, who
# can wait. Stale reads followed consumer lag, not chance.
#
# **What this lesson covers**
#
# - service A cannot go on without an answer from service B. Two ways to ask:
#   - **rpc**: A calls B over the network and waits;
#   - **broker**: A publishes a request event, B's consumer polls it, B publishes a result event, A's consumer
#     polls that, and A waits for it all. Same question, same answer, same work in B;
# - a request whose work lies in several services: a **chain of synchronous calls**, each one a network round
#   trip plus a service time with a long tail, against **write then events**: the first service does its own
#   write, answers, and lets the others react to an event.
#
# Both parts ask the same question: does the caller need the result *now*? If yes, call. If no, publish and
# stop waiting.

# %%
import matplotlib.pyplot as plt
import pandas as pd

import simkit as sk

# %% [markdown]
# ## 1. A request through a broker
#
# 300 requests from A, Poisson arrivals. B's work takes the same time in both designs (median 10 ms, p99 80 ms,
# drawn from B's own random stream) on the same 4 workers.
#
# **Predict.** B's work is identical in both designs. The broker path adds two produces and two consumer polls.
# Will the broker's median be a few ms worse than rpc, about twice as slow, or more? And will the gap at the p99
# be larger or smaller than at the median?

# %%
rpc = sk.scenarios.request_response("rpc", seed=1)
broker = sk.scenarios.request_response("broker", seed=1)
cols = ["answered", "latency_mean", "latency_p50", "latency_p95", "latency_p99"]
a, b = rpc.report, broker.report
print(f"median: rpc {a.latency_p50:.0f} ms, broker {b.latency_p50:.0f} ms ({b.latency_p50 - a.latency_p50:+.0f} ms); "
      f"p99: rpc {a.latency_p99:.0f} ms, broker {b.latency_p99:.0f} ms ({b.latency_p99 - a.latency_p99:+.0f} ms)")
pd.DataFrame({"rpc": {c: rpc.report[c] for c in cols}, "broker": {c: broker.report[c] for c in cols}}).round(1)

# %%
sk.plots.latency_comparison({"rpc": rpc, "broker": broker})
plt.show()

# %% [markdown]
# Every percentile is worse through the broker. Where does the time go? Follow one request through the broker
# design. Count the steps that are not B's work: a produce, a poll by B's consumer, B's produce of the reply, a
# poll by A's consumer. The `/reply` record is a second message that exists only to carry the answer back.

# %%
t = broker.trace
rid = "req-7"
t[t.msg_id.isin([rid, rid + "/reply"]) & ~t.event.isin(["commit"])][["time", "component", "event", "topic", "msg_id"]]

# %% [markdown]
# The same request as rpc has two steps of its own: the call and B's answer.

# %%
t = rpc.trace
t[t.msg_id == rid][["time", "component", "event", "detail"]]

# %% [markdown]
# Now the worst case: the slowest of the 300 requests through the broker, one lane per component it crossed, each
# hop labelled with the milliseconds it took. Dashed stretches are the request (or its reply) lying in a topic
# until a consumer picked it up.

# %%
sk.plots.request_timeline(broker)
plt.show()

# %% [markdown]
# Most of the slowest request's time is not B's work at all: it is lying in a topic until a consumer gets to it.
# Each poll and each produce adds its own variable delay, so the tail grows most. Nothing was
# gained for it: nobody else consumes `requests` or `replies`; A still waits; if B is down A still gets no answer,
# just later.
#
# Over ten seeds (whiskers from the best to the worst seed):

# %%
rr = sk.compare("request_response", ["rpc", "broker"], seeds=10)
rr.groupby("design", sort=False)[["latency_p50", "latency_p99"]].agg(["mean", "min", "max"]).round(1)

# %%
mean = rr.groupby("design").mean(numeric_only=True)
sk.plots.outcome_bars(rr, ["latency_p50", "latency_p99"], ylabel="latency (ms)",
                      title=f"over {rr.seed.nunique()} seeds: broker p50 {mean.latency_p50['broker']:.0f} ms vs rpc "
                            f"{mean.latency_p50['rpc']:.0f} ms; p99 {mean.latency_p99['broker']:.0f} vs "
                            f"{mean.latency_p99['rpc']:.0f} ms")
plt.show()

# %% [markdown]
# ## 2. A chain of calls
#
# Now the work of one user request lies in `hops` services. Each service does its part (median 60 ms, p99
# 600 ms) and, in `"sync_chain"`, calls the next one and waits for it before answering. In
# `"write_then_events"` the first service does its part, commits its own write with an outbox row for a
# `WorkRequested` event, and answers; the other services consume the event and do their parts after the
# answer.
#
# **Predict.** One service answers in a bit over 100 ms on average. With 8 services in a chain, what will the mean
# answer time be? Will the p99 grow by the same number of milliseconds as the mean, or by more?

# %%
chains = sk.sweep("call_chain", {"hops": [1, 2, 4, 6, 8], "design": ["sync_chain", "write_then_events"]}, seeds=3)
sync = chains[chains.design == "sync_chain"].groupby("hops")[["latency_mean", "latency_p99"]].mean()
print(f"sync chain: 1 hop {sync.latency_mean[1]:.0f} ms mean, {sync.latency_p99[1]:.0f} ms p99; "
      f"8 hops {sync.latency_mean[8]:.0f} ms mean, {sync.latency_p99[8]:.0f} ms p99")
chains.groupby(["design", "hops"], sort=False)[["latency_mean", "latency_p99", "completion_mean"]].mean().round(0)

# %%
sk.plots.chain_latency(chains)
plt.show()

# %% [markdown]
# One hop costs a bit over 100 ms on average; eight hops in a row cost nearly a second, and the p99 reaches
# seconds. The mean adds up hop by hop; the p99 climbs by even more milliseconds, because the more hops a request
# crosses, the likelier it is that at least one of them is having a slow moment. That is how an API drifts from a
# comfortable response time to one users notice, without any single service getting slower.
#
# Here is the slowest request through a chain of six:

# %%
long = sk.scenarios.call_chain("sync_chain", hops=6, seed=1)
sk.plots.request_timeline(long)
plt.show()

# %% [markdown]
# The slowest request is usually slow because of one step (the title names it), not because every service was a
# little slow. In a chain that one slow step is enough: every service upstream of it keeps a worker waiting for
# its call to return, and the user waits for all of it. (The lines only go down the chain: the answers travel
# back up without trace rows of their own, so the last leg jumps straight back to the client.)
#
# `write_then_events` answers after one hop whatever the chain. The work still happens: `completion_mean` in the
# table above is when the last service was done with a request, after the answer. The same request in that
# design:

# %%
fan = sk.scenarios.call_chain("write_then_events", hops=6, seed=1)
slowest = sk.checks.latencies(long.trace, "request", "responded").idxmax()
t = fan.trace
t[(t.msg_id == slowest) & t.event.isin(["request", "served", "responded"])][["time", "component", "event", "detail"]]


# %% [markdown]
# The user has their answer once service 0 has committed; services 1 to 5 do their parts afterwards, each in its
# own time. Publishing works here because the user does not need the other five results to get an answer. If they
# did (if the request is only done when all six have answered), the chain is the honest design, and the job is
# to keep it short.
#
# ## 3. Explore
#
# Change the number of hops, the network's median latency per leg and the consumers' poll latency. Each change
# re-runs both designs with 100 requests and redraws the share of requests answered within each latency. The
# title also says when, with events, the last service is done with a request: that is where the consumers' poll
# latency shows, since no user waits for it.

# %%
def explore(hops=4, network_median_ms=5, fetch_median_ms=5, seed=1):
    net = sk.lognormal(median=network_median_ms, p99=16 * network_median_ms)
    fetch = sk.lognormal(median=fetch_median_ms, p99=12 * fetch_median_ms)
    runs = {d: sk.scenarios.call_chain(d, hops=hops, seed=seed, requests=100, network_latency=net, fetch_latency=fetch)
            for d in ["sync_chain", "write_then_events"]}
    p99 = {d: r.report.latency_p99 for d, r in runs.items()}
    sk.plots.latency_cdf(runs, start="request", end="responded", log=True,
                         title=f"{hops} hop{'' if hops == 1 else 's'}: p99 answer {p99['sync_chain']:.0f} ms "
                               f"in a chain, {p99['write_then_events']:.0f} ms with write then events;\n"
                               f"with events the last service is done "
                               f"{runs['write_then_events'].report.completion_p99:.0f} ms (p99) after the request")
    plt.xlabel("time until the user has an answer (ms, log scale)")
    plt.show()
    for d, r in runs.items():
        print(f"{d:17s}: answer mean {r.report.latency_mean:6.0f} ms, p99 {r.report.latency_p99:6.0f} ms; "
              f"last service done {r.report.completion_mean:6.0f} ms after the request on average")


sk.interact(explore, hops=(1, 12), network_median_ms=(1, 40), fetch_median_ms=(1, 99, 2), seed=(0, 20));

# %% [markdown]
# ## Try it yourself
#
# 1. With `fetch_latency=0` and `consumer_overhead=0`, how close does the broker design get to rpc? Which of the
#    broker's costs are left, and which of them would a real Kafka deployment add back (think of
#    `acks="all"`, replication and batching)?

# %%

# %% [markdown]
# 2. In `call_chain`, how many hops can `sync_chain` afford if the p99 must stay under one second? Use
# `sk.sweep` over `hops` with three seeds.

# %%

# %% [markdown]
# ## Summary
#
# - If the caller needs the answer to go on, call. A request and a reply through a broker is a slower call with
#   a longer tail and none of the broker's benefits: nobody else wants those records.
# - The slowest requests through a broker usually spend most of their time lying in topics until a consumer picks them
#   up, not in the service that does the work.
# - Each synchronous hop adds a round trip and a service time to what the user waits for; the tail climbs by
#   more than the mean, since one slow hop is enough to make the whole request slow.
# - Events earn their place when the caller does *not* need the result: answer after your own write and let
#   the others react (through an outbox, so the event cannot be lost).
# - They pay off most when one fact has several readers: the writer publishes once instead of calling each
#   reader, and a new reader subscribes without a change to the writer.
#
# ## Questions to discuss
#
# 1. Find a request-reply pair of topics in a system you know. Does anyone besides the caller read them? What
#    would a plain call cost you instead?
# 2. How many services does your slowest user-facing request cross? Which of those calls does the user actually
#    need answered before seeing a result?
# 3. If you moved work out of a chain and into events, what would the user need to be told ("we're on it"),
#    and who would notice when the background part fails?
