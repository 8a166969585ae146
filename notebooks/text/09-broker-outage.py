# %% [markdown]
# # 09 · The broker is down: what fails, what is lost, what waits
#
# **After this lesson you can**
#
# - say what a broker outage does to each of three designs of one service: which one fails its customers, which
#   one silently loses events, and which one only makes them late;
# - follow a lost event through the trace and explain why nobody was told about it;
# - read an outbox backlog during and after an outage, and say how long the catch-up takes;
# - argue why a broker is infrastructure to run with high availability, and what the design must still do on
#   the day it is down anyway.
#
# **Where we are.** Lesson 08 kept one bad record from jamming a partition (retry, then a dead-letter topic), and
# showed that a backlog nobody watches, whether consumer lag or a DLQ, is a failure nobody sees. Here the whole
# broker goes away, and the backlog that matters is the one waiting *in front of* it.
#
# **The setup.** Customers place orders at about 50 a second for 10 s. From 3 s to 6 s the broker refuses every
# request (`Broker.outage`), as in a cluster incident. Every accepted order must become an `OrderPlaced` event on
# the `orders` topic, for shipping, billing and email to react. Three designs of the order service meet it:
#
# - **all_async**: the request itself becomes an event; the service produces it and waits for the broker's
#   acknowledgement before answering, and a consumer writes the order later;
# - **direct_publish**: write the order, hand the event to the producer without waiting for it, answer;
# - **sync_core_outbox**: write the order and an outbox row in one transaction, answer; a relay publishes the rows.
#
# The producer's `delivery.timeout.ms` (`publish_timeout`) is 1 s: it retries a refused record for a second,
# then gives up on it. Time is in milliseconds in the trace, seconds on the plots.

# %%
import matplotlib.pyplot as plt
import pandas as pd

import simkit as sk

DESIGNS = ["all_async", "direct_publish", "sync_core_outbox"]
FIELDS = ["requests", "failed_requests", "lost", "published", "outbox_lag_max", "drain_ms", "latency_p99"]

# %% [markdown]
# ## 1. Everything through the broker
#
# **Predict.** In `all_async` every request waits for the broker. The broker is down for 3 of the 10 seconds:
# about how many of the ~470 orders are answered with an error? Every one placed during the outage, or fewer?
# And how many events are lost?

# %%
everything = sk.scenarios.outage("all_async", seed=1)
requests = everything.trace[everything.trace.event == "request"]
placed_during = requests.time.between(everything.report.outage_start, everything.report.outage_end,
                                      inclusive="left").sum()
print(f"{everything.report.failed_requests} of {everything.report.requests} orders answered with an error, "
      f"of {placed_during} placed while the broker was down; {everything.report.lost} events lost")
pd.Series({f: everything.report[f] for f in FIELDS})

# %% [markdown]
# About two seconds' worth of orders failed, not three. Follow one: the service handed the record to its
# producer, the broker refused it again and again (`retry` rows), the producer gave up (`send_failed`) and the
# customer got an error.

# %%
order = everything.checks["failed_requests"].examples[0]
t = everything.trace
rows = t[t.msg_id == order]
sent, gave_up = rows[rows.event == "send"].iloc[0], rows[rows.event == "send_failed"].iloc[0]
retries = t[(t.event == "retry") & (t.partition == sent.partition) & t.time.between(sent.time, gave_up.time)]
print(f"{order}: {len(retries)} retries on partition {sent.partition} in {gave_up.time - sent.time:.0f} ms, "
      f"then the producer gave up")
rows[["time", "component", "event", "partition", "detail"]]

# %% [markdown]
# The orders of the last second of the outage survived: their producer was still retrying when the broker came
# back, so those customers only waited (look at `latency_p99`). The customers whose orders failed were told so,
# which is honest, and nothing is lost. But the shop was closed for everyone while a piece of infrastructure no
# customer ever sees was down.
#
# ## 2. Write, then publish and hope
#
# `direct_publish` writes the order to its own database and answers at once; the event goes to the producer in
# the background.
#
# **Predict.** How many requests fail now? And what happens to the events of orders placed during the outage:
# delivered late, or not at all?

# %%
direct = sk.scenarios.outage("direct_publish", seed=1)
print(f"{direct.report.failed_requests} requests failed; {direct.report.lost} events lost, never delivered")
pd.Series({f: direct.report[f] for f in FIELDS})

# %%
lost = direct.checks["lost"].examples[0]
t = direct.trace
t[t.msg_id == lost][["time", "component", "event", "detail"]]

# %% [markdown]
# The order is in the database (`db_commit`), the customer was answered, the producer gave up after its delivery
# timeout, and the service could only log it (`event_dropped`): it kept no copy. Shipping, billing and email will
# never hear of this order. Here is that order on a timeline, among all the other traffic of the outage:

# %%
sk.plots.lost_event_timeline(direct, lost)
plt.tight_layout()
plt.show()

# %% [markdown]
# Every orange cross on the producer's and the broker's lanes is a refused or retried produce request. The
# customer's lane shows nothing wrong at all: the order was answered in a few milliseconds. Nobody was told that
# anything failed, and that makes this the worse of the two failures.
#
# ## 3. The fix: a synchronous core and an outbox
#
# `sync_core_outbox` keeps the customer's write synchronous and puts the event into the same transaction, as an
# outbox row. The relay cannot publish while the broker is down, so the rows wait, and it drains them once the
# broker is back (lesson 03 built this outbox to survive crashes; here it survives an outage).
#
# **Predict.** With the outbox, how many rows will be waiting when the broker comes back (about 50 orders a
# second for 3 s)? How long will the relay need to catch up: milliseconds, or seconds?

# %%
outbox = sk.scenarios.outage("sync_core_outbox", seed=1)
runs = {"all_async": everything, "direct_publish": direct, "sync_core_outbox": outbox}
print(f"{outbox.report.outbox_lag_max:.0f} rows waiting at the peak; the relay caught up "
      f"{outbox.report.drain_ms / 1000:.1f} s after the broker came back; {outbox.report.lost} lost")
pd.DataFrame({d: {f: r.report[f] for f in FIELDS} for d, r in runs.items()})

# %%
sk.plots.outage_timeline(runs)
plt.show()

# %% [markdown]
# Top: `all_async` starts failing requests one delivery timeout into the outage; `direct_publish` loses events at
# the same pace without a single failed request. Bottom: the outbox backlog climbs while the broker is down and
# drains within about a second once it is back; those events are late, and none is lost. That backlog is also
# the thing to alert on (the outbox's lag and age, from lesson 03): it is how you learn about the outage from the
# service's side.
#
# ## 4. Over many seeds
#
# One seed could be lucky. Run each design over ten seeds (ten different streams of arrivals and latencies,
# the same outage):

# %%
outcomes = sk.compare("outage", DESIGNS, seeds=10)
outcomes.groupby("design", sort=False)[["failed_requests", "lost", "outbox_lag_max", "drain_ms", "latency_p99"]] \
    .agg(["mean", "min", "max"]).round(1).T

# %%
means = outcomes.groupby("design", sort=False)[["failed_requests", "lost"]].mean()
sk.plots.outcome_bars(
    outcomes, ["failed_requests", "lost"], ylabel="orders per run (of about 490)",
    title=f"a 3 s outage, mean of {outcomes.seed.nunique()} seeds (whiskers: min-max): "
          f"all_async fails {means.loc['all_async', 'failed_requests']:.0f} requests,\n"
          f"direct_publish loses {means.loc['direct_publish', 'lost']:.0f} events, "
          f"sync_core_outbox fails {means.loc['sync_core_outbox', 'failed_requests']:.0f} "
          f"and loses {means.loc['sync_core_outbox', 'lost']:.0f}")
plt.tight_layout()
plt.show()

# %% [markdown]
# **Predict.** The producer gives up after 1 s. What does `direct_publish` lose in an outage of half a second?
# Of five seconds? And how does the outbox's catch-up time grow with the outage?

# %%
by_length = sk.sweep("outage", {"design": ["direct_publish", "sync_core_outbox"],
                                "outage_ms": [500, 1000, 2000, 3500, 5000]}, seeds=3)
sk.plots.loss_and_drain_vs_outage(by_length, publish_timeout=1000)
plt.show()
per_length = by_length.groupby(["design", "outage_ms"])[["lost", "drain_ms"]].mean()
for ms, m in per_length.loc["direct_publish"].iterrows():
    drain = per_length.loc[("sync_core_outbox", ms), "drain_ms"]
    print(f"down {ms / 1000:g} s: direct_publish loses {m.lost:.0f} events a run; the outbox catches up in "
          f"{drain / 1000:.2f} s")

# %% [markdown]
# An outage shorter than the delivery timeout costs `direct_publish` nothing: the retries bridge it. Beyond it,
# every further second loses another second's worth of events. So a generous timeout looks like a cure, until
# the process restarts while its producer holds those records in memory. The outbox keeps them on disk, in the
# same database as the orders. Its catch-up grows with the outage too, but once the outage lasts a few seconds it
# takes about a third of the outage's own length (the first exercise below asks what sets its pace).
#
# ## 5. The broker is infrastructure
#
# None of the three designs makes an outage go away. A broker carries the events of every service that uses it,
# so it belongs with the database and the load balancer: run it as a replicated cluster across failure zones,
# watch it, and rehearse losing a node. A single broker node in production is a single point of failure by
# choice. The design's job is different: to decide what the customer sees *when it happens anyway*. Keep the
# paths that must answer now synchronous, and let events wait in a local outbox rather than in the memory of a
# producer.
#
# ## 6. Move the outage
#
# Move the outage and the producer's delivery timeout (orders arrive for 5 s here, so that a redraw is quick).
# What happens when the timeout is longer than the outage? When the outage outlasts the orders, what does the
# backlog do while nothing new arrives?

# %%
def explore(start_s=3.0, duration_s=3.0, publish_timeout_s=1.0, seed=1):
    kw = dict(start=start_s * 1000, outage_ms=duration_s * 1000, publish_timeout=publish_timeout_s * 1000,
              seed=seed, run_time=5000)
    runs = {d: sk.scenarios.outage(d, **kw) for d in DESIGNS}
    sk.plots.outage_timeline(runs)
    plt.show()


sk.interact(explore, start_s=(0.0, 4.5, 0.5), duration_s=(0.5, 5.0, 0.5), publish_timeout_s=(0.25, 5.0, 0.25),
            seed=(0, 20));

# %% [markdown]
# ## Try it yourself
#
# 1. With `outage_ms=6000`, how long does the outbox take to drain (`drain_ms`)? What limits the drain rate (look
#    at the relay's rows in the trace: one publish, one acknowledgement, one mark per row)?

# %%

# %% [markdown]
# 2. Give `all_async` a longer `publish_timeout` (say 5 s) and run the 3 s outage again. How many requests fail
#    now, and what does the customer experience instead (look at `latency_p99`)?

# %%

# %% [markdown]
# ## Summary
#
# - When every request goes through the broker, the broker's availability is your availability: `all_async`
#   answered about two in three of the orders placed during a 3 s outage with an error (those of its last
#   second got through: their producer was still retrying when the broker came back).
# - Publishing straight after the write turns an outage into silent loss: the customer is answered, the event is
#   gone, and only a log line says so. The loss grows with every second the outage outlasts the delivery timeout.
# - A synchronous core with an outbox in the same transaction turns an outage into a backlog that drains once
#   the broker is back, visible on the outbox's lag and age.
# - None of this replaces running the broker as critical infrastructure: replicated, monitored, its failure
#   rehearsed.
#
# ## Questions to discuss
#
# - Which of your requests would fail today if your broker were down for five minutes? Which would succeed but
#   quietly lose their events?
# - Where do your services keep an event between "the data is saved" and "the broker has it"? What happens to it
#   if the process restarts in between?
# - Who would notice an outbox backlog growing in your system, and after how long?
# - What does a highly available broker cost you to run, and which outages would still get through it?
