# %% [markdown]
# # 18 · When EDA fits: decide with a checklist, then watch the decoupling pay
#
# **After this lesson you can**
#
# - decide, for a system in front of you, whether events fit, with four questions: who owns the parts, whether
#   the work can wait, how many readers want the fact, and whether anyone will read the history again;
# - tell the three answers apart: events, a call that answers now and publishes the fact afterwards, or no broker
#   at all;
# - show what events buy when a team nobody planned for arrives: no change to the producer, and the whole history
#   read from offset 0, against direct calls, where the producer must change and the past never reaches the
#   newcomer;
# - say what a downstream outage costs each design: failed calls and slow answers, or a backlog that drains.
#
# **Where we are.** Every lesson so far assumed that events were the right tool and showed what it takes to use
# them well: outboxes, idempotent handlers, keys, schemas, dead letters. Lesson 14 let a late reader catch up
# from the log. This lesson steps back: when is all that worth it? First you decide on six short cases, then
# the simulator shows the decoupling that makes events worth their cost, beside the design without them.

# %%
import matplotlib.pyplot as plt
import pandas as pd

import simkit as sk

DESIGNS = list(sk.scenarios.SCENARIOS["add_consumer"].designs)
FIELDS = ["requests", "producer_changes", "new_reader_handled", "new_reader_missed", "new_reader_lag_max",
          "caught_up_at", "failed_calls", "downstream_missed", "latency_p50", "latency_p99"]

# %% [markdown]
# ## 1. Four questions
#
# Events are not free: lessons 01 to 09 were a catalogue of what they cost. They pay off when some of these
# answers are yes. The checklist lives in `sk.fit.CHECKLIST`:

# %%
for q in sk.fit.CHECKLIST:
    print(f"{q.name:>13}: {q.ask}\n{'':>15}yes: {q.if_yes}\n{'':>15}no:  {q.if_no}\n")

# %% [markdown]
# `sk.fit.lean(...)` turns four answers into one of three leanings:
#
# - **events**: the work can wait, and someone else needs the fact (several readers, or the history) or another
#   team owns the work. Publish the fact; each reader consumes it in its own group.
# - **call_then_events**: the caller needs the answer now, and others need the fact. Answer from your own write
#   (or a call), and publish the fact afterwards through an outbox (lessons 03 and 09).
# - **no_broker**: nothing here pays for a broker. A function call, a shared database, a job table or a
#   scheduled query is simpler to run and to debug.
#
# ## 2. Six cases: your call first
#
# Read the six stories. For each, answer the four questions in your head and write down which way it leans.

# %%
print(sk.fit.cases())

# %% [markdown]
# **Predict.** Fill in your calls below, one of `"events"`, `"call_then_events"` or `"no_broker"` per case,
# *before* you run the cell after it. In a room, take a show of hands for each case first.

# %%
my_calls = {
    "checkout": "",
    "nightly_report": "",
    "signup_fan_out": "",
    "audit_log": "",
    "two_person_team": "",
    "price_lookup": "",
}

# %% [markdown]
# Now the kit's answers, beside yours. `agree` is empty for a case you left blank.

# %%
sk.fit.review(my_calls)

# %% [markdown]
# The table shows how often the kit leans away from a broker. Its reason for each answer, case by case (read the
# ones where you disagree):

# %%
for case in sk.fit.CASES:
    print(sk.fit.explain(case), end="\n\n")

# %% [markdown]
# Two cases are worth arguing about. In `checkout` the customer needs an answer on the page, so the order is
# written and answered directly; the fact that it happened is then published for the warehouse, loyalty and
# fraud, which is lesson 09's sync core with an outbox. In `price_lookup` another team owns the service, yet
# nothing leans to events: a question that needs an answer now is not a fact anyone else wants. Team ownership
# pulls towards events only when there is something to publish or the work can wait.
#
# ## 3. A case of your own
#
# Mark the four answers for a system you know (an integration you maintain, a feature on your roadmap) and see
# which way it leans, and why. A verdict that leans to events lists what they will cost you, and where this kit
# shows each cost.

# %%
print(sk.fit.lean(teams=True, asynchronous=True, fan_out=False, replay=True))

# %% [markdown]
# ## 4. The decoupling, simulated: a team nobody planned for
#
# `sk.scenarios.add_consumer` is `signup_fan_out` in miniature. A sign-up service accepts 600 sign-ups, about one
# every 10 ms. From the start, two teams act on each one: `email` (the welcome email) and `billing` (the free
# trial). At 3 s a third team, `crm`, arrives and wants every sign-up, including those made before it existed.
#
# - **direct_calls**: the sign-up service calls each team in turn and waits for its answer. To reach `crm` it
#   needs new code, deployed at 3 s (a `deployed` row in the trace).
# - **events**: the sign-up service publishes a `SignedUp` record and answers once the broker has it. Each team
#   reads the topic in its own consumer group. `crm` subscribes at 3 s with `auto_offset_reset="earliest"`
#   (Kafka's `auto.offset.reset`; its default, `latest`, would skip the history, as lesson 14 showed).
#
# **Predict.** By the end of the run, how many of the 600 sign-ups will `crm` have handled in each design? How
# many changes to the sign-up service did each need? With events, how long after it arrives will `crm` have
# caught up, handling its ~1 ms per sign-up while new ones keep arriving: closer to 30 ms, 300 ms or 3 s?

# %%
runs = {d: sk.scenarios.add_consumer(d, seed=1) for d in DESIGNS}
pd.DataFrame({d: {f: r.report[f] for f in FIELDS} for d, r in runs.items()})

# %%
fig, ax = plt.subplots(figsize=(11, 4), layout="constrained")
sk.plots.behind_over_time(runs, team="crm", ax=ax)
plt.show()

# %% [markdown]
# With events, `crm` starts about 300 sign-ups behind, the whole history, and the green line falls to zero
# within a few hundred milliseconds: reading a log is faster than sign-ups arrive. The sign-up service did not
# change (`producer_changes` is 0); the new team subscribed on its own. With direct calls, `crm` hears only of
# sign-ups made after the deploy, so the red line stays where it started: the past never reaches it, and getting
# it there means another job for the sign-up team (a backfill script from its database).
#
# Note the answer time too: with direct calls the user waits for every team in turn, so each team added to the
# chain adds a round trip to every sign-up. With events the user waits for the broker alone, however many teams
# read.

# %%
a, b = runs["direct_calls"].report, runs["events"].report
print(f"direct_calls: producer changed {a.producer_changes} time(s); crm handled {a.new_reader_handled} of "
      f"{a.requests}, never saw {a.new_reader_missed}; answers p50 {a.latency_p50:.1f} ms")
print(f"events:       producer changed {b.producer_changes} time(s); crm handled {b.new_reader_handled} of "
      f"{b.requests}, caught up {b.caught_up_at - runs['events'].params['joins_at']:.0f} ms after it arrived; "
      f"answers p50 {b.latency_p50:.1f} ms")

# %% [markdown]
# ## 5. When a team is down
#
# Decoupling in time matters on a bad day too. Now `email` is unreachable from 4 s to 5 s.
#
# **Predict.** In each design: how many sign-ups never reach `email`? How long does the slowest 1 % of users
# wait for their sign-up to be answered, compared with the ~19 ms and ~6 ms of a calm run? Does anything fail for
# the user?

# %%
down = {d: sk.scenarios.add_consumer(d, seed=1, outage=(4000, 1000)) for d in DESIGNS}
fig, ax = plt.subplots(figsize=(11, 4), layout="constrained")
sk.plots.behind_over_time(down, team="email", ax=ax)
plt.show()
for d, run in down.items():
    r = run.report
    print(f"{d:>12}: {r.failed_calls} calls timed out, {r.downstream_missed} sign-ups never reached email, "
          f"answers p99 {r.latency_p99:.0f} ms")

# %% [markdown]
# Follow the first sign-up that never reached `email` with direct calls, in the trace of that run:

# %%
follow = down["direct_calls"].checks["downstream_missed"].examples[0]
t = down["direct_calls"].trace
t[t.msg_id == follow][["time", "component", "event", "detail"]]

# %% [markdown]
# The same sign-up with events, on a timeline of the run: answered by the sign-up service within milliseconds,
# handled by `billing` and `crm` straight away, and by `email` once its consumer is back.

# %%
ev = down["events"]
rows = ev.trace[ev.trace.msg_id == follow]
answered = rows[rows.event == "responded"].time.iloc[0]
emailed = rows[(rows.component == "email") & (rows.event == "side_effect")].time.iloc[0]
fig, ax = plt.subplots(figsize=(11, 4), layout="constrained")
sk.plots.timeline(ev, ax=ax, components=["signup", "broker", "email", "billing", "crm"], highlight=[follow],
                  window=(3900, 5400), title=f"events: sign-up {follow} answered at {answered / 1000:.3f} s; "
                                         f"email handled it at {emailed / 1000:.2f} s, after its restart")
plt.show()

# %% [markdown]
# With direct calls, every call to `email` during the outage waits for its 200 ms timeout and is given up: the
# user waits, and that sign-up never gets its welcome email unless someone retries it (and a retry needs the
# idempotency of lesson 06). The red line rises and stays. With events, the sign-up service does not notice:
# the records wait in the log, `email`'s consumer comes back, and the green line drains back to zero. The
# broker absorbed the outage, as long as it was up itself (lesson 09 takes the broker away).
#
# ## 6. Over many seeds
#
# One seed could be lucky. Ten seeds of the same story, with the outage:

# %%
outcomes = sk.compare("add_consumer", DESIGNS, seeds=10, outage=(4000, 1000), progress=False)
outcomes.groupby("design", sort=False)[["producer_changes", "new_reader_missed", "failed_calls",
                                        "downstream_missed", "latency_p99"]].agg(["mean", "min", "max"]).round(1).T

# %%
fig, ax = plt.subplots(figsize=(8, 4), layout="constrained")
means = outcomes.groupby("design", sort=False)[["new_reader_missed", "failed_calls"]].mean()
sk.plots.outcome_bars(
    outcomes, ["new_reader_missed", "failed_calls"], ax=ax, ylabel="per run (mean, min-max)",
    title=f"{outcomes.seed.nunique()} seeds: direct_calls, crm misses {means.loc['direct_calls', 'new_reader_missed']:.0f} "
          f"and {means.loc['direct_calls', 'failed_calls']:.0f} calls fail;\nevents, crm misses "
          f"{means.loc['events', 'new_reader_missed']:.0f} and {means.loc['events', 'failed_calls']:.0f} calls fail")
plt.show()

# %% [markdown]
# On every seed, events lose nothing to the newcomer or to the outage, and direct calls lose both the history
# (every sign-up made before the deploy) and every call that fell into the outage.
#
# ## 7. Move the arrival, the newcomer's speed and the outage
#
# The left panel follows `crm`, the right one `email`. How slow can `crm` be per sign-up and still catch up while
# sign-ups keep arriving (about one every 10 ms)? What does a longer outage do to each design?

# %%
def explore(joins_at_s=3.0, crm_ms_per_signup=1, outage_s=1.0, seed=1):
    outage = (4000, outage_s * 1000) if outage_s else None
    runs = {d: sk.scenarios.add_consumer(d, seed=seed, joins_at=joins_at_s * 1000, outage=outage,
                                         new_handling_time=crm_ms_per_signup) for d in DESIGNS}
    fig, axes = plt.subplots(1, 2, figsize=(14, 4), layout="constrained")
    sk.plots.behind_over_time(runs, team="crm", ax=axes[0])
    sk.plots.behind_over_time(runs, team="email", ax=axes[1])
    plt.show()


sk.interact(explore, joins_at_s=(0.5, 5.5, 0.5), crm_ms_per_signup=(0, 12, 1), outage_s=(0.0, 3.0, 0.5),
            seed=(0, 20));

# %% [markdown]
# ## Try it yourself
#
# 1. Give `crm` 12 ms per sign-up (`new_handling_time=12`) with events. Does it ever catch up, and when? What would
#    you change so that it keeps pace (lesson 12)?

# %%

# %% [markdown]
# 2. Take one of the cases where you disagreed with the kit. Change one answer of the kit's (for example, in
#    `two_person_team`, imagine a second team that wants every booking) and run `sk.fit.lean` with it. Which
#    answer flips the verdict?

# %%

# %% [markdown]
# ## Summary
#
# - Events fit when the work can wait and someone else needs the fact: several readers, readers not known yet,
#   someone who will read the history again, or another team that owns the work.
# - When the caller needs an answer now, answer it from your own write and publish the fact afterwards; when
#   nobody else needs the fact, a call, a database or a scheduled job is simpler.
# - The decoupling is real: a new consumer group needs no change to the producer and reads the history the log
#   still holds (`auto_offset_reset="earliest"`). With direct calls the producer must change for every reader,
#   and the newcomer never sees the past.
# - A reader's outage becomes a backlog that drains, instead of failed calls and slow answers for the user.
# - Everything events cost (staleness, lost or repeated messages, order, schemas, a broker to run) still has to be
#   paid: the checklist tells you when it is worth it.
#
# ## Questions to discuss
#
# 1. Which of your integrations would lean `no_broker` on this checklist yet use a broker today? What does it
#    cost you to keep it?
# 2. The last time a new team needed data another team produced, how many changes and meetings did it take?
# 3. How long does your broker keep events (its retention)? Would a team that arrives next year find the history
#    it needs, or would you need a compacted topic or an archive?
# 4. The checklist has four questions. Which question would you add for your organisation (regulation, latency,
#    skills, the cost of running a broker)?
