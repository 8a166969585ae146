# %% [markdown]
# # 11 · Boundaries first, then communication, then deployment
#
# **After this lesson you can**
#
# - tell a logical boundary (who owns which data and rules) from a deployment unit (what runs as one process);
# - measure what running the same boundaries as separate services costs in request latency, mostly in the tail;
# - count the things each deployment gives you to run, and say which outage stops which boundaries;
# - follow a request that failed because the broker was down, and explain why it failed *after* doing its work;
# - take the three decisions in order: boundaries, then how they communicate, then how they are deployed.
#
# **Where we are.** Lesson 10 modelled an order as a workflow of business facts with business reactions, and
# showed that a local rollback cannot undo a charge or a shipping label.
#
# **The setup.** Five logical boundaries, **customers, orders, billing, inventory, notifications**, with the same
# code and the same requests, deployed two ways:
#
# - a **modular monolith** (`monolith`): one deployable (two instances), one database in which each boundary owns
#   its schema, in-process calls, and an in-process event bus for "tell whoever cares";
# - **services** (`services`): one per boundary (two instances each), a database each, a network round trip per
#   call, and a three-node broker for events.
#
# Placing an order needs an answer from customers, inventory and billing *now* (a call); notifications only needs
# to hear about it eventually (an event). That is the communication decision, and it is the same in both
# deployments. Requests arrive at about 100 a second for 3 s; times are in milliseconds.

# %%
import matplotlib.pyplot as plt
import pandas as pd

import simkit as sk

DESIGNS = ["monolith", "services"]

# %% [markdown]
# ## 1. Same boundaries, two deployments
#
# **Predict.** In `services`, placing an order makes three network round trips to other boundaries (each about
# 5 ms at the median, with a long tail) plus a publish that waits for the broker. How much slower than the
# monolith will the *median* request be? And the slowest 1 % (p99): the same factor, or more?

# %%
mono = sk.scenarios.deployment("monolith", seed=1)
svc = sk.scenarios.deployment("services", seed=1)
a, b = mono.report, svc.report
print(f"services against the monolith: median {b.latency_p50:.0f} ms against {a.latency_p50:.0f} "
      f"({b.latency_p50 / a.latency_p50:.1f} times), p99 {b.latency_p99:.0f} ms against {a.latency_p99:.0f} "
      f"({b.latency_p99 / a.latency_p99:.1f} times)")
pd.DataFrame({"monolith": mono.report.to_dict(), "services": svc.report.to_dict()}).loc[
    ["latency_p50", "latency_p99", "remote_calls", "infrastructure_parts", "app_instances", "databases",
     "brokers", "notifications_sent", "failed_requests"]]

# %% [markdown]
# Both deployments served the same requests and sent the same notifications; only the path differs. Follow one
# order through each (the `remote_call` rows are network hops that the monolith makes as plain function calls):

# %%
order = mono.trace[(mono.trace.event == "request") & (mono.trace.detail == "place_order")].msg_id.iloc[0]
for name, run in [("monolith", mono), ("services", svc)]:
    t = run.trace
    rows = t[(t.msg_id == order) & ~t.event.isin(["fetch"])]
    print(f"--- {name}: answered after "
          f"{rows[rows.event == 'responded'].time.iloc[0] - rows[rows.event == 'request'].time.iloc[0]:.1f} ms")
    print(rows[["time", "component", "event", "detail"]].to_string(index=False))

# %%
fig, axes = plt.subplots(1, 2, figsize=(14, 4.5))
sk.plots.latency_cdf({"monolith": mono, "services": svc}, ax=axes[0], start="request", end="responded")
sk.plots.infrastructure_parts(pd.DataFrame([{"design": d, **r.report.to_dict()} for d, r in
                                            [("monolith", mono), ("services", svc)]]), ax=axes[1])
fig.tight_layout()
plt.show()

# %% [markdown]
# Every hop between boundaries adds its own latency, and a request that makes several hops in a row collects the
# slow ones: the tail grows much faster than the median. The monolith pays none of that, and has three things
# to run instead of eighteen (the numbers of instances and broker nodes are parameters; the ratio is the point).
#
# ## 2. What stops working
#
# Now take something away for two seconds of the three: the broker, or the billing database.
#
# **Predict.** With the broker down from 1 s to 3 s, how many requests fail in the monolith, which has no
# broker? In services, which boundaries fail: only those that publish events, or every one? And when billing's
# database is down instead, which deployment fails more requests?

# %%
outages = {"none": {}, "broker down": dict(broker_outage=(1000, 2000)),
           "billing db down": dict(db_outage=("billing", 1000, 2000))}
frames = []
for label, kw in outages.items():
    df = sk.compare("deployment", DESIGNS, seeds=8, **kw)
    df["outage"] = label
    frames.append(df)
impact = pd.concat(frames, ignore_index=True)
failed = impact.groupby(["outage", "design"], sort=False)[["failed_requests", "affected_boundaries"]].mean()
for (label, design), m in failed.iterrows():
    print(f"{label:>15}, {design:>8}: {m.failed_requests:5.1f} requests failed a run, "
          f"{m.affected_boundaries:.1f} boundaries hit")
impact.groupby(["outage", "design"], sort=False)[["failed_requests", "affected_boundaries", "latency_p99"]] \
    .agg(["mean", "min", "max"]).round(1)

# %%
fig, axes = plt.subplots(1, 2, figsize=(15, 4.8))
sk.plots.outage_impact(impact, ax=axes[0])
sk.plots.deployment_latency(impact[impact.outage == "none"], ax=axes[1])
fig.tight_layout()
plt.show()

# %% [markdown]
# Read it both ways:
#
# - **Broker down.** The monolith has no broker, so nothing happens. In services, customers and orders publish
#   events and wait for the broker's acknowledgement, so their requests fail while it is down, even though their
#   own databases are fine. (Lesson 09's answers apply: an outbox lets the publish wait, a replicated broker
#   rarely goes down.)
# - **Billing's database down.** In the monolith, "billing's database" is *the* database: every boundary stops.
#   In services only billing stops, plus every request that needs billing's answer (placing an order).
#
# Here is one order that failed in services while the broker was down:

# %%
broken = sk.scenarios.deployment("services", seed=1, broker_outage=(1000, 2000))
sk.plots.failed_request_timeline(broken)
plt.tight_layout()
plt.show()

# %% [markdown]
# The order asked customers, reserved stock, wrote an invoice and stored itself, all successfully, and then its
# `OrderPlaced` event could not be published. After a second of retries the producer gave up and the customer
# got an error for an order whose stock and invoice are already written: the half-finished workflow of lesson 10,
# caused here by a piece of infrastructure. The monolith's in-process bus cannot fail this way; an outbox in
# services would not either.
#
# Which boundaries were hit is read from the trace (`step_failed` rows):

# %%
res = sk.scenarios.deployment("services", seed=1, db_outage=("billing", 1000, 2000))
print(res.checks["affected"])
t = res.trace
t[t.event == "step_failed"][["time", "component", "msg_id", "detail"]].head()

# %% [markdown]
# ## 3. The order of decisions
#
# Neither deployment is free. The monolith is faster and simpler to run, and shares one database's fate;
# services isolate a database failure but add hops, parts, and a broker on the request path. That choice comes
# last:
#
# 1. **Boundaries.** Which part owns which data and which rules? Each boundary gets its own schema, and no other
#    boundary writes to it. This is what keeps a codebase changeable, whatever runs where.
# 2. **Communication.** Between two boundaries, does the caller need an answer now (call), or do others only
#    need to know that something happened (event)? Events work inside one process as well as across a broker.
# 3. **Deployment.** Only now: which boundaries run together? Deploy one on its own when it has a reason of its
#    own (a very different load, a team that must release it independently, a failure it must not share), and
#    pay for that boundary's hops, parts and broker knowingly.
#
# Event-driven design is the second decision. It does not require the third to come out as "one service each".
#
# ## 4. Slow hops, longer outages
#
# How slow does each network hop have to be before the services' p99 passes half a second? How long may the
# broker be down before requests start failing (compare with `publish_timeout`, 1000 ms)?

# %%
def explore(hop_median_ms=5, broker_down_s=0.5, seed=1):
    kw = dict(network_latency=sk.lognormal(median=hop_median_ms, p99=12 * hop_median_ms), seed=seed)
    if broker_down_s > 0:
        kw["broker_outage"] = (1000, broker_down_s * 1000)
    runs = {d: sk.scenarios.deployment(d, **kw) for d in DESIGNS}
    ax = sk.plots.latency_cdf(runs, start="request", end="responded", log=True)
    ax.set_title("p99 of answered requests: "
                 + ", ".join(f"{d} {r.report.latency_p99:.0f} ms" for d, r in runs.items())
                 + "\nfailed requests: " + ", ".join(
                     f"{d} {r.report.failed_requests:.0f} of {r.report.requests:.0f}" for d, r in runs.items()))
    ax.figure.tight_layout()
    plt.show()


sk.interact(explore, hop_median_ms=(1, 50, 1), broker_down_s=(0.0, 3.0, 0.25), seed=(0, 20));

# %% [markdown]
# ## Try it yourself
#
# 1. Split the difference: which single boundary would you deploy on its own first, and why? Use
#    `db_outage=(boundary, 1000, 2000)` on both designs for each boundary and compare `failed_requests`.

# %%

# %% [markdown]
# 2. With `instances=1` and `broker_nodes=1`, how many parts does each deployment have? Why is that not a fair
#    comparison for a production system (think of lesson 09)?

# %%

# %% [markdown]
# ## Summary
#
# - Logical boundaries are not deployment units. A boundary can own its schema, publish and consume events,
#   and still run in the same process and on the same database server as its neighbours.
# - Decide in this order: boundaries, then communication (call when you need an answer now, publish when others
#   only need to know), then deployment.
# - Each network hop adds latency, mostly to the tail; each separately deployed part is one more thing to run,
#   watch and fix.
# - Shared infrastructure shares failure: one database down stops every boundary in it; a broker on the request
#   path fails every request that waits for it, sometimes after the request's work is already done.
#
# ## Questions to discuss
#
# - Which of your services were split out for a reason of their own (load, team, isolation), and which because
#   splitting was the default?
# - Draw your boundaries without looking at your deployment diagram. Where do the two disagree, and which one is
#   right?
# - Which of your requests wait for a broker's acknowledgement before answering the user? What happens to the
#   work they already did when that wait fails?
# - If you merged two of your services into one deployable tomorrow, what would you gain and what would you lose?
