# %% [markdown]
# # 11 · Boundaries first, then communication, then deployment
#
# **Where we are.** Lesson 10 modelled an order as a workflow of business facts with business reactions, and
# showed that a local rollback cannot undo a charge or a shipping label.
#
# **What this lesson covers**
#
# - five logical boundaries, **customers, orders, billing, inventory, notifications**, with the same code and
#   the same requests, deployed two ways:
#   - a **modular monolith**: one deployable, one database in which each boundary owns its schema, in-process
#     calls, and an in-process event bus for "tell whoever cares";
#   - **services**: one per boundary, a database each, a network round trip per call, a broker for events;
# - what each costs: request latency, the number of things to run, and what stops working when the broker or
#   one database is down.
#
# The order of decisions matters. First the **boundaries** (who owns which data and rules). Then how they
# **communicate**: placing an order needs an answer from customers, inventory and billing now (a call), while
# notifications only needs to hear about it eventually (an event). Only then **deployment**: which boundaries
# run together. Event-driven design is about the second decision; it does not require the second deployment.

# %%
import matplotlib.pyplot as plt
import ipywidgets as widgets
import pandas as pd

import simkit as sk

# %% [markdown]
# ## 1. Same boundaries, two deployments

# %%
mono = sk.scenarios.deployment("monolith", seed=1)
svc = sk.scenarios.deployment("services", seed=1)
pd.DataFrame({"monolith": mono.report.to_dict(), "services": svc.report.to_dict()}).loc[
    ["latency_p50", "latency_p99", "remote_calls", "infrastructure_parts", "app_instances", "databases",
     "brokers", "notifications_sent", "failed_requests"]]

# %% [markdown]
# Both deployments served the same requests and sent the same notifications; only the path differs. Follow one
# order through each (the `remote_call` rows are network hops the monolith makes as plain function calls):

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
sk.plots.infrastructure_parts(sk.compare("deployment", ["monolith", "services"], seeds=1), ax=axes[1])
fig.tight_layout()
plt.show()

# %% [markdown]
# Every hop between boundaries adds its own latency, and a request that makes several hops in a row collects the
# slowest of each: the tail grows much faster than the median. The monolith pays none of that, and there are
# three things to run instead of eighteen (the numbers of app instances and broker nodes are parameters).
#
# ## 2. What stops working
#
# Now take something away for two seconds: the broker, or the billing database.

# %%
outages = {"none": {}, "broker down": dict(broker_outage=(1000, 2000)),
           "billing db down": dict(db_outage=("billing", 1000, 2000))}
frames = []
for label, kw in outages.items():
    df = sk.compare("deployment", ["monolith", "services"], seeds=3, **kw)
    df["outage"] = label
    frames.append(df)
impact = pd.concat(frames, ignore_index=True)
impact.groupby(["outage", "design"], sort=False)[["failed_requests", "affected_boundaries"]].mean()

# %%
fig, axes = plt.subplots(1, 2, figsize=(15, 4.5))
sk.plots.outage_impact(impact, ax=axes[0])
sk.plots.deployment_latency(impact[impact.outage == "none"], ax=axes[1])
fig.tight_layout()
plt.show()

# %% [markdown]
# Read it both ways:
#
# - **Broker down.** The monolith has no broker, so nothing happens. In services, customers and orders publish
#   events and wait for the broker's acknowledgement, so their requests fail while it is down, even though their
#   own databases are fine. (Lesson 08's answers apply: an outbox lets the publish wait, a replicated broker
#   rarely goes down.)
# - **Billing's database down.** In the monolith, "billing's database" is *the* database: every boundary stops.
#   In services only billing stops, plus every request that needs billing's answer (placing an order).
#
# Which boundaries were hit is read from the trace (`step_failed` rows):

# %%
res = sk.scenarios.deployment("services", seed=1, db_outage=("billing", 1000, 2000))
print(res.checks["affected"])
t = res.trace
t[t.event == "step_failed"][["time", "component", "msg_id", "detail"]].head()


# %% [markdown]
# Neither deployment is free. The monolith is faster and simpler to run, and shares one database's fate;
# services isolate a database failure but add hops, parts and a broker on the request path. Decide it per
# boundary, after deciding the boundaries and how they talk.
#
# ## 3. Try it
#
# How slow does each network hop have to be before the services' p99 reaches a second? How long may the broker be
# down before requests start failing (compare with `publish_timeout`, 1000 ms)?

# %%
def explore(hop_median_ms=5, broker_down_s=0.0, seed=1):
    kw = dict(network_latency=sk.lognormal(median=hop_median_ms, p99=12 * hop_median_ms), seed=seed)
    if broker_down_s > 0:
        kw["broker_outage"] = (1000, broker_down_s * 1000)
    runs = {d: sk.scenarios.deployment(d, **kw) for d in ["monolith", "services"]}
    sk.plots.latency_cdf(runs, start="request", end="responded")
    plt.show()
    for d, r in runs.items():
        print(f"{d:9s}: p99 {r.report.latency_p99:7.1f} ms, {r.report.failed_requests} failed requests")


widgets.interact(explore, hop_median_ms=(1, 50, 1), broker_down_s=(0.0, 3.0, 0.25), seed=(0, 20));

# %% [markdown]
# ## What to remember
#
# - Logical boundaries are not deployment units. A boundary can own its schema, publish and consume events,
#   and still run in the same process and the same database server as its neighbours.
# - Decide in this order: boundaries, then communication (call when you need an answer now, publish when others
#   only need to know), then deployment.
# - Each network hop adds latency, mostly to the tail; each separately deployed part is something more to run,
#   watch and fix.
# - Shared infrastructure shares failure: one database down stops every boundary in it; a broker on the request
#   path stops every publisher that waits for it.
#
# ## Exercises
#
# 1. Split the difference: which single boundary would you deploy on its own first, and why? Use
#    `db_outage=(boundary, 1000, 2000)` on both designs for each boundary and compare `failed_requests`.

# %%

# %% [markdown]
# 2. With `instances=1` and `broker_nodes=1`, how many parts does each deployment have? Why is that not a fair
#    comparison for a production system (think of lesson 08)?

# %%
