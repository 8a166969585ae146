# %% [markdown]
# # 07 · Request and response: call when you need the answer, and mind the chain
#
# **Where we are.** Lesson 06 put the profile write back in the request: a user who saves a change and looks
# again must see it, so the write is synchronous, and a `ProfileChanged` event tells the CRM and analytics,
# who can wait. Stale reads followed consumer lag, not chance.
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
import ipywidgets as widgets
import pandas as pd

import simkit as sk

# %% [markdown]
# ## 1. A request through a broker
#
# 300 requests from A, Poisson arrivals. B's work takes the same time in both designs (median 10 ms, p99 80 ms,
# drawn from B's own random stream) on the same 4 workers.

# %%
rpc = sk.scenarios.request_response("rpc", seed=1)
broker = sk.scenarios.request_response("broker", seed=1)
cols = ["answered", "latency_mean", "latency_p50", "latency_p95", "latency_p99"]
pd.DataFrame({"rpc": {c: rpc.report[c] for c in cols}, "broker": {c: broker.report[c] for c in cols}}).round(1)

# %% [markdown]
# Follow one request through the broker design. Count the steps that are not B's work: a produce, a poll by B's
# consumer, B's produce of the reply, a poll by A's consumer. The `/reply` record is a second message that
# exists only to carry the answer back.

# %%
t = broker.trace
rid = "req-7"
t[t.msg_id.isin([rid, rid + "/reply"]) & ~t.event.isin(["commit"])][["time", "component", "event", "topic", "msg_id"]]

# %%
t = rpc.trace
t[t.msg_id == rid][["time", "component", "event", "detail"]]

# %%
sk.plots.latency_comparison({"rpc": rpc, "broker": broker})
plt.show()

# %% [markdown]
# Every percentile is worse through the broker, and the tail most of all: two polls and two produces each
# add their own variable delay on top of B's. Nothing was gained for it. Nobody else consumes `requests` or
# `replies`; A still waits; if B is down A still gets no answer, just later.
#
# Over several seeds:

# %%
rr = sk.compare("request_response", ["rpc", "broker"], seeds=5)
rr.groupby("design", sort=False)[["latency_p50", "latency_p99"]].mean().round(1)

# %%
sk.plots.outcome_bars(rr, ["latency_p50", "latency_p99"], ylabel="latency (ms)",
                      title=f"broker p50 {rr[rr.design == 'broker'].latency_p50.mean():.0f} ms vs rpc "
                            f"{rr[rr.design == 'rpc'].latency_p50.mean():.0f} ms; p99 "
                            f"{rr[rr.design == 'broker'].latency_p99.mean():.0f} vs "
                            f"{rr[rr.design == 'rpc'].latency_p99.mean():.0f} ms")
plt.show()

# %% [markdown]
# ## 2. A chain of calls
#
# Now the work of one user request lies in `hops` services. Each service does its part (median 60 ms, p99
# 600 ms) and, in `"sync_chain"`, calls the next one and waits for it before answering. In
# `"write_then_events"` the first service does its part, commits its own write with an outbox row for a
# `WorkRequested` event, and answers; the other services consume the event and do their parts after the
# answer.

# %%
chains = sk.sweep("call_chain", {"hops": [1, 2, 4, 6, 8], "design": ["sync_chain", "write_then_events"]}, seeds=2)
chains.groupby(["design", "hops"], sort=False)[["latency_mean", "latency_p99", "completion_mean"]].mean().round(0)

# %%
sk.plots.chain_latency(chains)
plt.show()

# %% [markdown]
# One hop costs a bit over 100 ms on average; eight hops in a row cost nearly a second, and the p99 goes to
# seconds. The mean adds up hop by hop; the p99 climbs by even more milliseconds, because the more hops a
# request crosses, the likelier it is that at least one of them is having a slow moment. That is how an API drifts from a comfortable response time to one users notice,
# without any single service getting slower.
#
# `write_then_events` answers after one hop whatever the chain. The work still happens:
# `completion_mean` is when the last service was done with the request, after the answer. Look at one request in
# each design:

# %%
long = sk.scenarios.call_chain(6, "sync_chain", seed=1)
fan = sk.scenarios.call_chain(6, "write_then_events", seed=1)
for name, run in [("sync_chain", long), ("write_then_events", fan)]:
    t = run.trace
    rows = t[(t.msg_id == "req-3") & t.event.isin(["request", "remote_call", "served", "responded"])]
    print(f"--- {name}")
    print(rows[["time", "component", "event", "detail"]].to_string(index=False))


# %% [markdown]
# Publishing works here because the user does not need the other five results to get an answer. If they did
# (if the request is only done when all six have answered), the chain is the honest design, and the job is to
# keep it short.
#
# ## 3. Try it
#
# Change the number of hops, the network's median latency per leg and the consumers' poll latency.

# %%
def explore(hops=4, network_median_ms=5, fetch_median_ms=5, seed=1):
    net = sk.lognormal(median=network_median_ms, p99=16 * network_median_ms)
    fetch = sk.lognormal(median=fetch_median_ms, p99=12 * fetch_median_ms)
    runs = {d: sk.scenarios.call_chain(hops, d, seed=seed, network_latency=net, fetch_latency=fetch)
            for d in ["sync_chain", "write_then_events"]}
    sk.plots.latency_cdf(runs, start="request", end="responded", log=True)
    plt.show()
    for d, r in runs.items():
        print(f"{d:17s}: answer mean {r.report.latency_mean:6.0f} ms, p99 {r.report.latency_p99:6.0f} ms; "
              f"all work done after {r.report.completion_mean:6.0f} ms on average")


widgets.interact(explore, hops=(1, 12), network_median_ms=(1, 40), fetch_median_ms=(1, 100, 5), seed=(0, 20));

# %% [markdown]
# ## What to remember
#
# - If the caller needs the answer to go on, call. A request and a reply through a broker is a slower call with
#   a longer tail and none of the broker's benefits: nobody else wants those records.
# - Each synchronous hop adds a round trip and a service time to what the user waits for; the tail climbs by
#   more than the mean, since one slow hop is enough to make the whole request slow.
# - Events earn their place when the caller does *not* need the result: answer after your own write and let
#   the others react (through an outbox, so the event cannot be lost).
# - Decide per interaction: the same system can call where an answer is needed and publish where it is not.
#
# ## Exercises
#
# 1. With `fetch_latency=0` and `consumer_overhead=0`, how close does the broker design get to rpc? Which of the
#    broker's costs are left, and which of them would a real Kafka deployment add back (think of
#    `acks="all"`, replication and batching)?

# %%

# %% [markdown]
# 2. In `call_chain`, how many hops can `sync_chain` afford if the p99 must stay under one second? Use
# `sk.sweep` over `hops` with three seeds.

# %%
