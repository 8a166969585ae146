# %% [markdown]
# # 06 · Read your own writes: answer synchronously, tell the others with events
#
# **Where we are.** Lesson 05 was about the one thing a producer and its consumers still share once they are
# decoupled: the shape of the data. A schema registry with a compatibility rule, and contract tests in CI, stop a
# breaking change before it reaches a consumer that cannot read it.
#
# **What this lesson covers**
#
# - a user changes their profile and, a moment later, opens it again. When the change travels as an event and a
#   consumer applies it later, that second look can show the *old* profile: a **stale read**;
# - where the staleness comes from: nothing random, only **consumer lag**. The consumer that applies the change
#   is busy with other records on the same topic, and the user's change waits its turn;
# - the fix: write the change in the request, synchronously, and publish a `ProfileChanged` event (through an
#   outbox, as in lesson 01) for the boundaries that only need to *hear* about it: a CRM sync and analytics.
#
# Events are for decoupling in time. The person who just pressed "save" is not someone to decouple from.

# %%
import matplotlib.pyplot as plt
import ipywidgets as widgets
import pandas as pd

import simkit as sk

# %% [markdown]
# ## 1. The profile update as an event
#
# 200 users each save a change and read their profile again after a think time (median 0.8 s). In the
# `"async"` design the profile service only produces an `UpdateProfile` record, waits for the broker's
# acknowledgement and answers "accepted"; the `profile-writer` consumer applies it to the database later.
# The same topic also carries housekeeping changes (last-login times): 300 of them are already waiting when the
# run starts, and more keep coming.

# %%
fields = ["users", "reads", "stale_reads", "stale_read_rate", "response_p50", "visible_p50", "visible_p99",
          "consumer_lag_max", "consumer_delay_mean"]
slow = sk.scenarios.profile_update("async", seed=1)
pd.Series({f: slow.report[f] for f in fields}).round(3)

# %% [markdown]
# The user got an answer in a few milliseconds (`response_p50`), but the change became readable much later
# (`visible_p50`, ms from the request). Every read in between is stale. Look one up in the trace: the
# `profile_read` row says which update the user made (`msg_id`) and which one the database returned (`detail`).

# %%
print(slow.checks["stale_reads"])
update = slow.checks["stale_reads"].examples[0]
t = slow.trace
t[(t.msg_id == update) & t.event.isin(["request", "send", "append", "responded", "process", "db_commit",
                                        "profile_read"])][["time", "component", "event", "partition", "offset", "detail"]]

# %% [markdown]
# Read the rows top to bottom: the record was appended to the topic right away, the user was answered and
# looked again (`profile_read`, `detail` shows what was there: nothing, the profile had not been written yet),
# and only afterwards did the consumer get to the record (`process`) and commit it (`db_commit`). The
# consumer was not broken. It was *behind*: this is its lag, the records waiting between the log end and its
# committed offset, over the run.

# %%
ax = sk.plots.time_series({"async": slow.series["consumer_lag"]}, "lag", ylabel="consumer lag (records)",
                          title=f"the profile-writer starts {int(slow.report.consumer_lag_max)} records behind "
                                "and needs seconds to catch up")
plt.show()

# %% [markdown]
# ## 2. The fix: write it in the request
#
# In the `"sync"` design the profile service writes the change to its database in the request, with an outbox
# row for `ProfileChanged` in the same transaction, and answers after the commit. Same users, same think
# times, same housekeeping traffic on the same consumer.

# %%
fast = sk.scenarios.profile_update("sync", seed=1)
pd.DataFrame({"async": {f: slow.report[f] for f in fields},
              "sync": {f: fast.report[f] for f in fields}}).round(3)

# %%
sk.plots.visibility_cdf({"sync": fast, "async": slow})
plt.show()

# %% [markdown]
# The consumer is exactly as far behind as before (`consumer_lag_max`): it just is not between the user and
# their data any more. The answer costs about the same (`response_p50`): asynchronous was never faster for the
# user, only later.
#
# The other boundaries still react asynchronously, in both designs: every change became a `ProfileChanged`
# event, and the CRM sync and analytics consumed it in their own time.

# %%
pd.DataFrame({d: {f: r.report[f] for f in ["events_published", "crm_synced", "analytics_counted"]}
              for d, r in [("sync", fast), ("async", slow)]})

# %% [markdown]
# ## 3. Over several seeds
#
# One run could be luck. Compare the designs over five seeds (each seed gives both designs the same users, think
# times and traffic).

# %%
runs = sk.compare("profile_update", ["sync", "async"], seeds=5)
runs.groupby("design", sort=False)[["stale_reads", "stale_read_rate", "visible_p99", "response_p50"]].mean().round(2)

# %%
sk.plots.outcome_bars(runs, "stale_reads", ylabel="stale reads per run (of 200)",
                      title=f"async: {runs[runs.design == 'async'].stale_reads.mean():.0f} stale reads per run "
                            "on average; sync: none")
plt.show()

# %% [markdown]
# ## 4. Stale reads follow the lag
#
# Sweep the backlog of other records on the topic, from none to a large import, and plot the stale-read rate
# against how long a record waited before the consumer applied it (`consumer_delay_mean`).

# %%
lagged = sk.sweep("profile_update", {"backlog": [0, 100, 300, 600, 1200], "design": ["sync", "async"]}, seeds=2)
sk.plots.stale_reads_vs_lag(lagged, by="backlog")
plt.show()


# %% [markdown]
# With no backlog the consumer keeps up and a user who waits almost a second hardly ever catches it out.
# As the lag grows past the users' think time, nearly every read is stale. The `sync` dots sit at zero along the
# same range of lag.
#
# ## 5. Try it
#
# Move the backlog, the consumer's processing time per record and the number of consumers in the group (the
# topic has 6 partitions). How many consumers does it take to bring async below 5% stale reads with a backlog of
# 1000? Does any setting bring it to zero for every seed?

# %%
def explore(backlog=300, processing_ms=5.0, consumers=1, seed=1):
    kw = dict(backlog=backlog, processing_time=sk.exponential(processing_ms), consumers=consumers, seed=seed)
    runs = {d: sk.scenarios.profile_update(d, **kw) for d in ["sync", "async"]}
    sk.plots.visibility_cdf(runs)
    plt.show()
    for d, r in runs.items():
        print(f"{d:5s}: {r.report.stale_reads:3d} stale of {r.report.reads} reads, "
              f"consumer up to {int(r.report.consumer_lag_max)} records behind")


widgets.interact(explore, backlog=(0, 2000, 100), processing_ms=(1.0, 15.0, 1.0), consumers=(1, 6), seed=(0, 20));

# %% [markdown]
# ## What to remember
#
# - A stale read is not bad luck: it is a read that arrived before the consumer reached the write. Its rate
#   follows consumer lag, which follows load, backlog and processing time.
# - Returning "accepted" does not make the user's request faster; it only moves the work to later, and the user
#   sees the gap.
# - Where a person needs to see their own change, write it in the request. Publish a business fact
#   (`ProfileChanged`) for the boundaries that only need to know, and let them catch up on their own time.
# - Watch consumer lag anyway: in the sync design it no longer hurts the user, but it still delays the CRM and
#   analytics.
#
# ## Exercises
#
# 1. Keep the async design and find the smallest `consumers` that gives at most 5% stale reads for
#    `backlog=1000` over seeds 0 to 4. Then double `background_rate`. Is adding consumers a fix, or a bet on
#    the traffic?

# %%

# %% [markdown]
# 2. Some interfaces show the value the user just typed instead of reading it back. Which of this lesson's
# numbers would that hide, and what would a *second* device of the same user still show?

# %%
