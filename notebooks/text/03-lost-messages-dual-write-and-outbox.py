# %% [markdown]
# # 03 · Lost messages: dual writes, ghost events and the outbox
#
# **After this lesson you can**
#
# - explain why a service that saves to its database and then publishes to the broker loses events when it
#   crashes in between, and why no retry can bring them back;
# - say what swapping the two writes does instead (it invents *ghost* events) and why neither order is safe;
# - describe how a transactional outbox and its relay make the event part of the data change, and why the relay
#   sometimes publishes an event twice;
# - chart an outbox's **lag** and **age**, put an alert on them, and catch a relay that died without a sound;
# - compare designs over many seeds and read the spread, not one lucky run.
#
# **Where we are.** Lesson 02 drew a line: when the caller needs the answer to carry on, call; when it does
# not, answer after your own write and publish an event for everyone else. This lesson takes that second case
# seriously. Once the user has their answer, what makes sure the event is published at all? (Lesson 00's
# tools are all we need: the **trace**, one row per step of every message, and a `seed` that replays a run.)
#
# **The story.** A sign-up service handles requests, one at a time. Each request creates a user row and must
# announce a `user_signed_up` event, so that other parts of the system (a greeting message, a recommendations
# feed, the CRM) can react. Two writes, into two different systems, with no transaction spanning both.
#
# Time is in **milliseconds**; the service receives about 20 requests a second.

# %%
import matplotlib.pyplot as plt

import simkit as sk

OUTCOMES = ["requests", "failed_requests", "committed", "published", "lost", "ghosts", "duplicates", "pending"]
LANES = ["client", "service", "db", "producer", "broker"]

# %% [markdown]
# ## 1. The dual write: save, then publish
#
# The `dual_write` design commits the user row and then publishes the event, waiting for the broker's
# acknowledgement. The service has three named places where it can crash: `before_commit`,
# `between_commit_and_publish` and `after_publish`. With `crash_rate=0.05`, each request has a 5% chance of
# crashing the service at one of those three places, picked at random. A crashed request gets an error back,
# and the service restarts 200 ms later and carries on with the next request.
#
# **Predict.** Of 200 sign-ups, about 10 crash the service. How many users will exist without their
# `user_signed_up` event: about 10, about 3, or none because the producer retries?

# %%
dual = sk.scenarios.publish("dual_write", crash_rate=0.05, messages=200, seed=3)
r = dual.report
print(f"{r.crashes} of {r.requests} sign-ups crashed the service, and {r.lost} users exist without their event: "
      f"{r.committed} users saved, {r.published} events published.")
{name: dual.report[name] for name in OUTCOMES}

# %% [markdown]
# More users were created (`committed`) than events reached the broker (`published`). The `lost` check names
# the users nobody will ever hear about. Look one up in the trace:

# %%
print(dual.checks["lost"])
lost_id = dual.checks["lost"].examples[0]
trace = dual.trace
trace[trace.msg_id == lost_id]

# %% [markdown]
# Read it top to bottom: the request arrived, the database committed the user row (`db_commit`), and the
# service crashed at `between_commit_and_publish`. The user saw an error, yet their account exists. There is
# no `send` and no `append` row: this event was never created, so no retry, broker setting or consumer can
# bring it back.
#
# The timeline shows every component as a lane. The lost sign-ups are circled in red; the crosses are crashes.

# %%
sk.plots.timeline(dual, highlight=dual.checks["lost"].examples, components=LANES,
                  title=f"dual write: {dual.report.lost} of {dual.report.crashes} crashes left a user "
                        "without an event (red)")
plt.show()

# %% [markdown]
# Zoom in on the first lost sign-up, a few milliseconds from its request to its error: the red path ends at
# the crash, with nothing in the producer or broker lanes.

# %%
rows = trace[trace.msg_id == lost_id]
t0, t1 = rows.time.min(), rows.time.max()
saved_at = rows[rows.event == "db_commit"].time.iloc[0]
crash_point = rows[rows.event == "crash"].detail.iloc[0]
sk.plots.timeline(dual, highlight=[lost_id], components=LANES, window=(t0 - 2, t1 + 3),
                  title=f"{lost_id}: user saved at {saved_at / 1000:.2f} s, then the service crashed at "
                        f"{crash_point}; no send, no event")
plt.show()

# %% [markdown]
# Only one of the three crash points loses an event, so over many runs roughly one crash in three costs a lost
# sign-up (section 5 counts it over ten seeds; one run of a few crashes can land above or below). More crashes,
# more lost events: you can try higher crash rates in section 6.
#
# ## 2. Swap the steps: publish, then save
#
# If saving first can lose the event, why not publish first? In `publish_then_commit` the service publishes,
# waits for the broker, and only then commits the user row. Its crash points are `before_publish`,
# `between_publish_and_commit` and `after_commit`.
#
# Same seed, so the same requests arrive at the same times and the service crashes on the same requests. This
# run also has a half-second database outage at t = 4 s, when every commit is refused.
#
# **Predict.** Does publish-then-commit lose any events? If something else goes wrong instead, what is it, and
# on which requests?

# %%
ptc = sk.scenarios.publish("publish_then_commit", crash_rate=0.05, messages=200, seed=3, db_outage=(4000, 500))
r = ptc.report
refused = ptc.trace[ptc.trace.event == "db_rejected"].msg_id.nunique()
print(f"publish-then-commit lost {r.lost} events and invented {r.ghosts}: {refused} announce sign-ups whose commit "
      f"the database refused during its outage, {r.ghosts - refused} sign-ups where the service crashed after "
      "publishing.")
{name: ptc.report[name] for name in OUTCOMES}

# %%
print(ptc.checks["ghosts"])
ghost_id = ptc.checks["ghosts"].examples[-1]
ptc.trace[ptc.trace.msg_id == ghost_id]

# %% [markdown]
# Nothing is lost any more, but now the broker carries **ghosts**: events announcing users that do not exist.
# The event was appended to the broker, then the commit was refused (`db_rejected`), or, for other ghosts,
# the service crashed before committing. The greeting goes out to someone who was told that sign-up failed; the
# CRM opens a contact for a user id the user service has never heard of. A ghost is at least as bad as a lost
# event, and harder to spot, because every downstream system looks consistent with the broker.
#
# Neither order works: two separate writes to two systems always leave a window between them.
#
# ## 3. The outbox: one transaction, then a relay
#
# The `outbox` design writes the user row *and* an outbox row holding the event in **one database
# transaction**, so both exist or neither does. A separate process, the relay, reads the unpublished outbox
# rows in order, publishes each one, waits for the broker's acknowledgement, and then marks the row as
# published. The relay can crash too: after reading a row (`after_read`), after publishing it
# (`after_publish`), or after marking it (`after_mark`).
#
# **Predict.** Now the service *and* the relay crash on 5% of what they handle, with the same database outage.
# How many events are lost, how many are ghosts, and can anything still go wrong?

# %%
box = sk.scenarios.publish("outbox", crash_rate=0.05, relay_crash_rate=0.05, messages=200, seed=3,
                           db_outage=(4000, 500))
r = box.report
print(f"outbox: {r.lost} lost, {r.ghosts} ghosts, {r.duplicates} events published twice "
      f"({r.crashes} service crashes, {r.relay_crashes} relay crashes).")
{name: box.report[name] for name in OUTCOMES}

# %% [markdown]
# Every committed user has their event in the broker: no lost events, no ghosts. A failed commit rolls back the
# user row and the event together. But a few events were published **twice**. Follow one:

# %%
dup_id = box.checks["duplicates"].examples[0]
box.trace[box.trace.msg_id == dup_id]

# %% [markdown]
# The relay read the row (`outbox_read`), published it, the broker appended it, and the relay got the
# acknowledgement (`outbox_published`). Then the relay crashed at `after_publish`, before it could mark the row.
# After restarting, it found the row still unpublished and published it again. The relay cannot tell
# "published but not marked" from "never published", so it does the safe thing and publishes again.
#
# Kafka's idempotent producer does not help here. It drops a *retry* of the same batch within one producer
# session, while the relay's second publish is a new send. The outbox is **at-least-once**: events are never
# lost, and sometimes arrive twice. That is why every event carries its id (here `signup-<n>`), and why
# consumers must handle a repeat safely, which is the topic of lesson 06.

# %%
rows = box.trace[box.trace.msg_id == dup_id]
copies = int((rows.event == "append").sum())
relay_crash = rows[(rows.component == "relay") & (rows.event == "crash")].detail.iloc[0]
sk.plots.timeline(box, highlight=[dup_id], components=["client", "db", "relay", "producer", "broker"],
                  window=(rows.time.min() - 20, rows.time.max() + 20),
                  title=f"{dup_id}: the relay crashed at {relay_crash}, before marking the row, so the event "
                        f"was published {'twice' if copies == 2 else f'{copies} times'}")
plt.show()

# %% [markdown]
# ## 4. A relay that dies quietly
#
# The outbox moves the risk: events no longer disappear, but they only leave the database while the relay is
# running. Here the relay dies at t = 3 s and never comes back. The service does not notice, because it never
# talks to the broker.
#
# **Predict.** How many of the 200 requests fail? How many events are still waiting when the run ends, 10 s
# after the last request?

# %%
dead = sk.scenarios.publish("outbox", messages=200, seed=3, relay_dies_at=3000, alert_lag=50, alert_age=2000)
r = dead.report
print(f"{r.failed_requests} of {r.requests} requests failed. When the run ends, {r.pending} events are still "
      f"waiting in the outbox; {r.published} were published before the relay died.")
{name: dead.report[name] for name in OUTCOMES}

# %% [markdown]
# Every request succeeded. From the outside the service looks healthy, yet most events after t = 3 s are
# still waiting in the outbox (`pending`). They are not lost, because a new relay would publish them, but no
# downstream reaction happens until someone notices.
#
# To notice, watch the outbox the way you would watch any queue: its **lag** (how many rows wait) and its
# **age** (how long the oldest row has waited), each with an alert threshold. The monitors sample both every
# 100 ms and write an `alert` row to the trace when a threshold is crossed.

# %%
sk.plots.outbox_metrics(dead)
plt.show()

# %%
dead.trace[dead.trace.event.isin(["alert", "resolved"])]

# %% [markdown]
# Here both alarms fire within moments of each other, because traffic is steady. They part ways when it is
# not: lag depends on traffic (50 waiting rows is normal at a busy hour and a disaster at night), while age
# measures how late the system is, whatever the traffic. At a quiet hour a dead relay keeps lag under any
# sensible threshold for a long time, and only age goes off.
#
# The same two numbers also tell you when the *broker* is down. While the broker is unavailable, the outbox
# service keeps answering in a few milliseconds and the backlog drains once the broker returns. The dual-write
# service waits for the broker inside every request:

# %%
outage = dict(messages=200, seed=3, broker_outage=(3000, 2500))
during = {design: sk.scenarios.publish(design, **outage) for design in ["dual_write", "outbox"]}
p99 = {design: run.report.latency_p99 for design, run in during.items()}
fig, axes = plt.subplots(2, 1, figsize=(10, 8), layout="constrained")
sk.plots.latency_cdf(during, start="request", end="responded", log=True, ax=axes[0],
                     title=f"Broker down 2.5 s: request p99 {p99['dual_write']:.0f} ms with dual write, "
                           f"{p99['outbox']:.0f} ms with the outbox")
sk.plots.outbox_metrics(during["outbox"], metric="age", ax=axes[1])
plt.show()

# %% [markdown]
# ## 5. Over many seeds
#
# One run can be lucky. Run each design on the same ten seeds (the same arrivals and crash draws) with the
# service and the relay both crashing at 5%. Each bar is the mean over the ten runs; its whisker runs from the
# best run to the worst.
#
# **Predict.** Will the dual write lose events on *every* one of the ten seeds, or only on unlucky ones? Will
# the outbox lose one on any seed?

# %%
designs = ["dual_write", "publish_then_commit", "outbox"]
runs = sk.compare("publish", designs, seeds=10, crash_rate=0.05, relay_crash_rate=0.05, messages=200)
for design, lost in runs.groupby("design", sort=False).lost:
    print(f"{design}: lost events on {(lost > 0).sum()} of {len(lost)} seeds ({lost.min()} to {lost.max()} a run)")
runs.groupby("design", sort=False)[["crashes", "lost", "ghosts", "duplicates", "pending"]].agg(["mean", "min", "max"])

# %%
metrics = ["lost", "ghosts", "duplicates"]
fig, axes = plt.subplots(1, 3, figsize=(13, 4.5), sharey=True, layout="constrained")
for ax, metric in zip(axes, metrics):
    per_design = runs.groupby("design", sort=False)[metric]
    hit = [d for d, worst in per_design.max().items() if worst > 0]
    found = ", ".join(f"{d} {per_design.mean()[d]:.1f} a run" for d in hit) or "none in any run"
    sk.plots.outcome_bars(runs, metric, ax=ax, title=f"{metric}: {found}",
                          ylabel="events per run (mean, min-max)" if ax is axes[0] else "")
    ax.tick_params(axis="x", labelrotation=15)
clean = [d for d in designs if runs.loc[runs.design == d, ["lost", "ghosts"]].to_numpy().max() == 0]
fig.suptitle(f"{runs.seed.nunique()} seeds of 200 sign-ups: only {' and '.join(map(repr, clean))} lost no event "
             "and invented none")
plt.show()

# %% [markdown]
# The service crashed equally often in every design, because the crash draws are the same. The dual write's lost
# events and publish-then-commit's ghosts are even the *same requests*: the crash that falls between the two
# writes in one design falls between them in the other too. Only the outbox has no such gap. Its duplicates
# come from a different process, the relay, crashing in its own window.
#
# ## 6. Try it
#
# Pick a design, a crash rate (for the service, and for the relay in the outbox design) and a seed. The red
# circles follow the design's own anomaly: lost events for the dual write, ghosts for publish-then-commit,
# duplicates for the outbox (up to five of them).

# %%
ANOMALY = {"dual_write": "lost", "publish_then_commit": "ghosts", "outbox": "duplicates"}


def explore(design="dual_write", crash_rate=0.10, seed=3):
    run = sk.scenarios.publish(design, crash_rate=crash_rate, relay_crash_rate=crash_rate, messages=200, seed=seed)
    rep, found = run.report, run.checks[ANOMALY[design]]
    lanes = LANES[:3] + ["relay"] + LANES[3:] if design == "outbox" else LANES
    red = f" (red: the first {len(found.examples)})" if found.count > len(found.examples) else ""
    fig, ax = plt.subplots(figsize=(11, 4), layout="constrained")
    sk.plots.timeline(run, ax=ax, highlight=found.examples, components=lanes,
                      title=f"{design}, crash rate {crash_rate:.2f}: {rep.crashes + rep.relay_crashes:g} crashes; "
                            f"{rep.lost:g} lost, {rep.ghosts:g} ghosts, {rep.duplicates:g} duplicated "
                            f"of {rep.committed:g} users{red}")
    plt.show()


sk.interact(explore, design=designs, crash_rate=(0.0, 0.3, 0.01), seed=(1, 20));

# %% [markdown]
# ## Try it yourself
#
# 1. In the dual-write design, which crash point leaves a *consistent* system (no lost event) but still
#    returns an error to the user? Check it with `crash_schedule=[(10, "...")]`, and read that request's rows in
#    the trace.

# %%

# %% [markdown]
# 2. Make the relay crash often (`relay_crash_rate=0.3`). How many duplicates do you get per relay crash, and why
#    only about one in three? Which of the relay's crash points can never cause a duplicate? And why is `pending`
#    no longer 0 (hint: `sk.plots.outbox_metrics`, and the relay's 500 ms restart)?

# %%

# %% [markdown]
# ## Summary
#
# - Saving state and publishing an event are two writes to two systems. A crash between them loses the event
#   (save first) or invents one (publish first). Retries cannot fix this: the missing step never started.
# - The transactional outbox makes the event part of the state change: one transaction, then a relay
#   publishes at least once. No losses and no ghosts, but sometimes duplicates, so consumers must deduplicate
#   by event id (lesson 06).
# - Treat the outbox table like any other backlog: chart its lag and, above all, its age, and alert on them.
#   A relay that dies without a sound looks like a healthy service.
# - The outbox also keeps requests fast and successful while the broker is down.
#
# ## Questions to discuss
#
# 1. Find a place in your own code that saves to a database and then publishes or calls another system. What
#    do the user and the other systems see if the process dies between those two lines?
# 2. If your outbox relay (or any background publisher) stopped tonight, who would find out, and how long
#    after? What lag or age threshold would be right at your busiest hour, and at 3 a.m.?
# 3. The outbox trades lost events for repeated ones. Which of your consumers could take the same event twice
#    without harm today, and which could not?
# 4. Is there an event in your system whose loss would not matter (a cache refresh, a metric)? Is an outbox
#    still worth it there?
