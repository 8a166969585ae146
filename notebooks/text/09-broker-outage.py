# %% [markdown]
# # 08 · The broker is down: what fails, what is lost, what waits
#
# **Where we are.** Lesson 07 showed that a request and its reply through a broker is a slow call, and that a
# chain of synchronous calls adds its hops up, in the mean and more in the tail. Call when the answer is needed
# now; publish when others only need to know.
#
# **What this lesson covers**
#
# - the broker goes away for three seconds (`Broker.outage`), the way a cluster incident takes it away;
# - three designs of an order service meet it:
#   - **all_async**: every request is turned into an event and produced to the broker before the customer gets
#     an answer; a consumer writes the order later;
#   - **direct_publish**: write the order, hand the `OrderPlaced` event to the producer without waiting, answer;
#   - **sync_core_outbox**: write the order and an outbox row in one transaction, answer; a relay publishes;
# - what each does to the customer (failed requests), to the events (lost or late), and how long the catch-up
#   takes afterwards.
#
# A broker outage is an infrastructure problem first (replication, monitoring, failover). This lesson is about
# what the *design* does on the day it happens anyway.

# %%
import matplotlib.pyplot as plt
import ipywidgets as widgets
import pandas as pd

import simkit as sk

# %% [markdown]
# ## 1. Everything through the broker
#
# Orders arrive at 50 a second for 10 s; the broker is down from 3 s to 6 s. The producer's
# `delivery.timeout.ms` is 1 s: it retries a refused record for up to a second, then gives up.

# %%
fields = ["requests", "failed_requests", "lost", "events_published", "max_backlog", "drain_ms", "latency_p99"]
everything = sk.scenarios.outage("all_async", seed=1)
pd.Series({f: everything.report[f] for f in fields})

# %% [markdown]
# About two seconds' worth of orders failed. Follow one: the service handed the record to its producer, the
# broker refused it again and again (`retry` rows), the producer gave up (`send_failed`) and the customer got an
# error.

# %%
order = everything.checks["failed"].examples[0]
t = everything.trace
rows = t[t.msg_id == order]
sent, gave_up = rows[rows.event == "send"].iloc[0], rows[rows.event == "send_failed"].iloc[0]
retries = t[(t.event == "retry") & (t.partition == sent.partition) & t.time.between(sent.time, gave_up.time)]
print(f"{order}: {len(retries)} retries on partition {sent.partition} in {gave_up.time - sent.time:.0f} ms, "
      f"then the producer gave up")
rows[["time", "component", "event", "partition", "detail"]]

# %% [markdown]
# The orders of the last second of the outage survived: their producer was still retrying when the broker came
# back. The customers whose orders failed are told so, which is honest, and nothing is lost. But the shop was
# closed for every customer while a piece of infrastructure they never see was down.
#
# ## 2. Write, then publish and hope
#
# `direct_publish` writes the order to its own database and answers; the event goes to the producer in the
# background. Customers notice nothing.

# %%
direct = sk.scenarios.outage("direct_publish", seed=1)
pd.Series({f: direct.report[f] for f in fields})

# %%
lost = direct.checks["lost"].examples[0]
t = direct.trace
t[t.msg_id == lost][["time", "component", "event", "detail"]]

# %% [markdown]
# The order is in the database (`db_commit`), the customer was answered, the producer gave up after its
# delivery timeout, and the service could only log it (`event_dropped`): it kept no copy. Shipping, billing and
# email will never hear of this order. Nobody was told anything failed: this is the worse failure of the two.
#
# ## 3. The fix: a synchronous core and an outbox
#
# `sync_core_outbox` makes the customer's write synchronous and puts the event in the same transaction as an
# outbox row. The relay cannot publish while the broker is down, so the rows wait, and it drains them when the
# broker is back.

# %%
outbox = sk.scenarios.outage("sync_core_outbox", seed=1)
pd.DataFrame({d: {f: r.report[f] for f in fields}
              for d, r in [("all_async", everything), ("direct_publish", direct), ("sync_core_outbox", outbox)]})

# %%
runs = {"all_async": everything, "direct_publish": direct, "sync_core_outbox": outbox}
sk.plots.outage_timeline(runs)
plt.show()

# %% [markdown]
# Top: failures start one delivery timeout into the outage for `all_async`; `direct_publish` loses events at
# the same pace without a single failed request. Bottom: the outbox backlog climbs while the broker is down and
# drains within about a second once it is back; those events are late, none is lost. The backlog is also what to
# alert on (lesson 01's outbox lag and age).
#
# ## 4. Over several seeds

# %%
outcomes = sk.compare("outage", ["all_async", "direct_publish", "sync_core_outbox"], seeds=5)
outcomes.groupby("design", sort=False)[["failed_requests", "lost", "max_backlog", "drain_ms"]].mean().round(1)

# %%
sk.plots.outcome_bars(outcomes, ["failed_requests", "lost"], ylabel="per run (of ~500 orders)",
                      title="a 3 s outage: all_async fails requests, direct_publish loses events, "
                            "the outbox does neither")
plt.show()


# %% [markdown]
# ## 5. Try it
#
# Move the outage and the producer's delivery timeout. What happens when the timeout is longer than the outage?
# Why is that no cure for `direct_publish` (think of a process restart while the producer holds the records in
# memory)?

# %%
def explore(start_s=3.0, duration_s=3.0, publish_timeout_s=1.0, seed=1):
    kw = dict(start=start_s * 1000, duration=duration_s * 1000, publish_timeout=publish_timeout_s * 1000, seed=seed)
    runs = {d: sk.scenarios.outage(d, **kw) for d in ["all_async", "direct_publish", "sync_core_outbox"]}
    sk.plots.outage_timeline(runs)
    plt.show()


widgets.interact(explore, start_s=(0.0, 9.0, 0.5), duration_s=(0.5, 6.0, 0.5), publish_timeout_s=(0.25, 5.0, 0.25),
                 seed=(0, 20));

# %% [markdown]
# ## What to remember
#
# - If every request goes through the broker, the broker's availability is your availability.
# - Publishing straight after the write turns an outage into silent loss: the customer is answered, the event
#   is gone, and nothing says so.
# - Keep the user-facing write synchronous and put the event in an outbox in the same transaction: an outage
#   becomes a backlog that drains, visible on the outbox's lag and age.
# - None of this replaces treating the broker as critical infrastructure: replicate it, monitor it, rehearse its
#   failure.
#
# ## Exercises
#
# 1. With `duration=6000`, how long does the outbox take to drain (`drain_ms`)? What limits the drain rate
#    (look at the relay's rows in the trace: one publish, one acknowledgement, one mark per row)?

# %%

# %% [markdown]
# 2. Give `all_async` a longer `publish_timeout` (say 5 s) and run the 3 s outage again. How many requests fail
# now, and what does the customer experience instead (look at `latency_p99`)?

# %%
