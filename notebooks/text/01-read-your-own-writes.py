# %% [markdown]
# # 01 · Read your own writes: answer synchronously, tell the others with events
#
# **After this lesson you can**
#
# - explain why a user who saves a change and looks again can see the *old* data when the change travels as an
#   event, and point to the read that came too early in a trace;
# - trace stale reads back to their cause, **consumer lag**, and predict how backlog and processing time move
#   their rate;
# - choose what to do synchronously (the write the user needs to see) and what to leave to events (the
#   boundaries that only need to hear about it);
# - tell, from a comparison over many seeds, whether a fix removes an anomaly or only makes it rarer.
#
# **Where we are.** Lesson 00 introduced the parts (a topic split into partitions, producers, a consumer group),
# the trace with one row per step, and the fact that a record's latency is mostly time spent *waiting* for a
# busy consumer. This lesson is about what that waiting looks like to a person on the other end.
#
# **The story.** A user edits their profile, presses "save", and a moment later opens the profile again. If the
# change is sent as an event and applied by a consumer later, that second look can show what was there before: a
# **stale read**. Nothing is broken and nothing is random: the consumer is simply behind. The fix is not a faster
# consumer; it is to do this one write in the request, and to publish a `ProfileChanged` event for everyone who
# only needs to hear about it.

# %%
import matplotlib.pyplot as plt
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
#
# **Predict.** The service answers within a few milliseconds, and each user looks again most of a second later.
# The writer starts with 300 other records ahead of it. Of the 200 reads, how many show the *old* profile: none,
# about 10, about 50, or more than half?

# %%
fields = ["users", "reads", "stale_reads", "stale_read_rate", "response_p50", "visible_p50", "visible_p99",
          "lag_max", "delay_mean"]
slow = sk.scenarios.profile_update("async", seed=1)
r = slow.report
print(f"{r.stale_reads} of {r.reads} reads show the old profile ({r.stale_read_rate:.0%}). The answer came after "
      f"{r.response_p50:.0f} ms (median); the change was readable after {r.visible_p50 / 1000:.1f} s.")
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
# The same rows as a timeline: one lane per component, this update's steps circled in red, every other
# message's steps as grey dots. The cross is the user's read.

# %%
sk.plots.stale_read_timeline(slow, update)
plt.show()

# %% [markdown]
# Read it left to right. Within a few milliseconds the record is in the topic and the user has their answer;
# a moment later the user looks and gets the old profile (the cross). Then nothing happens to this update for
# seconds: the dashed line is the record sitting in the topic while the writer works through the records ahead
# of it (the dense grey dots in its lane). Only at the star is the change committed, long after the user looked.
#
# The writer was not broken. It was *behind*: that is its **lag**, the records between the end of the log and its
# committed offset. Below, the lag over the whole run, with every user's read placed on the curve at the moment it
# happened.

# %%
sk.plots.lag_and_reads(slow)
plt.show()

# %% [markdown]
# The stale reads sit on the slope where the writer is still working down its backlog; once it has caught up,
# reads see the change. Stale reads follow the lag, not luck.
#
# ## 2. The fix: write it in the request
#
# In the `"sync"` design the profile service writes the change to its database in the request, with an outbox
# row for `ProfileChanged` in the same transaction (lesson 03 shows why the outbox matters), and answers after
# the commit. Same users, same think times, same housekeeping traffic on the same consumer.
#
# **Predict.** The writer consumer still has the same 300 records ahead of it and the same traffic. How many stale
# reads now? And does the user wait longer for "saved" (`response_p50`) than in the async design?

# %%
fast = sk.scenarios.profile_update("sync", seed=1)
a, b = slow.report, fast.report
print(f"stale reads: sync {b.stale_reads}, async {a.stale_reads}. Answer (median): sync {b.response_p50:.1f} ms, "
      f"async {a.response_p50:.1f} ms. Writer lag at its worst: sync {b.lag_max:.0f}, async {a.lag_max:.0f} records.")
pd.DataFrame({"async": {f: slow.report[f] for f in fields},
              "sync": {f: fast.report[f] for f in fields}}).round(3)

# %%
sk.plots.visibility_cdf({"sync": fast, "async": slow})
plt.show()

# %% [markdown]
# The consumer is about as far behind as before (`lag_max`): it just is not between the user and
# their data any more. The answer takes about as long as before (`response_p50`): a database commit costs about
# what a produce and the broker's acknowledgement cost. Asynchronous was never faster for the user, only later.
#
# The other boundaries still react asynchronously, in both designs: every change became a `ProfileChanged`
# event, and the CRM sync and analytics consumed it in their own time.

# %%
pd.DataFrame({d: {f: r.report[f] for f in ["published", "crm_synced", "analytics_counted"]}
              for d, r in [("sync", fast), ("async", slow)]})

# %% [markdown]
# ## 3. Over many seeds
#
# One run could be luck. Compare the designs over eight seeds (each seed gives both designs the same users,
# think times and traffic). The bars are the mean per run; the whiskers reach from the best to the worst seed.

# %%
runs = sk.compare("profile_update", ["sync", "async"], seeds=8)
runs.groupby("design", sort=False)[["stale_reads", "stale_read_rate", "visible_p99", "response_p50"]].agg(
    ["mean", "min", "max"]).round(2)

# %%
stale = runs.groupby("design").stale_reads
sync_worst = stale.max()["sync"]
sk.plots.outcome_bars(runs, "stale_reads", ylabel="stale reads per run (of 200 reads)",
                      title=f"async: {stale.mean()['async']:.0f} stale reads per run on average "
                            f"({stale.min()['async']}–{stale.max()['async']} over {runs.seed.nunique()} seeds); "
                            f"sync: {'none in any seed' if sync_worst == 0 else f'at most {sync_worst}'}")
plt.show()

# %% [markdown]
# ## 4. Stale reads follow the lag
#
# Sweep the backlog of other records on the topic, from none to a large import, and plot the stale-read rate
# against how long a record waited before the writer applied it (`delay_mean`). One dot per run, the
# line joins the means per backlog.
#
# **Predict.** With no backlog at all, does the async design reach zero stale reads? Roughly how long must a
# record wait in the topic before most reads are stale? (Hint: compare it with the users' think time.)

# %%
lagged = sk.sweep("profile_update", {"backlog": [0, 100, 300, 600, 1200], "design": ["sync", "async"]}, seeds=2)
sk.plots.stale_reads_vs_lag(lagged, by="backlog")
plt.show()
means = lagged[lagged.design == "async"].groupby("backlog")[["delay_mean", "stale_read_rate"]].mean()
for backlog, m in means.iterrows():
    print(f"async, backlog {backlog:>4}: records waited {m.delay_mean / 1000:.2f} s on average; "
          f"{m.stale_read_rate:.0%} of reads stale")
print(f"sync: at most {lagged[lagged.design == 'sync'].stale_reads.max()} stale reads in any run")


# %% [markdown]
# With no backlog the writer keeps up, and a user who waits most of a second rarely catches it out (rarely is
# not never: a user who looks again within a few milliseconds can still beat the writer). When records wait
# about as long as the users' median think time (0.8 s), about half the reads are stale; at a few times that,
# nearly all: read the lines printed under the figure. The `sync` dots sit at zero along
# the same range of lag: the writer is just as slow, but nobody is waiting for it.
#
# ## 5. Explore
#
# Move the backlog, the writer's processing time per record and the number of writers in the group (the topic
# has 6 partitions). Each change re-runs the async design with 100 users and redraws its lag with every read on
# it. How many writers does it take to bring async below 5% stale reads with a backlog of 1000? Does any setting
# bring it to zero for every seed?

# %%
def explore(backlog=300, processing_ms=5.0, consumers=2, seed=1):
    run = sk.scenarios.profile_update("async", seed=seed, users=100, backlog=backlog,
                                      processing_time=sk.exponential(processing_ms), consumers=consumers)
    sk.plots.lag_and_reads(run)
    plt.show()
    print(f"async: {run.report.stale_reads} of {run.report.reads} reads stale; 99% of updates readable within "
          f"{run.report.visible_p99 / 1000:.2f} s. The sync design reads its own write at every setting.")


sk.interact(explore, backlog=(0, 2000, 100), processing_ms=(1.0, 15.0, 1.0), consumers=(1, 6), seed=(0, 20));

# %% [markdown]
# ## Try it yourself
#
# 1. Keep the async design and find the smallest `consumers` that gives at most 5% stale reads for
#    `backlog=1000` over seeds 0 to 4. Then double `background_rate`. Is adding consumers a fix, or a bet on
#    the traffic?

# %%

# %% [markdown]
# 2. Some interfaces show the value the user just typed instead of reading it back. Which of this lesson's
# numbers would that hide, and what would a *second* device of the same user still show?

# %%

# %% [markdown]
# ## Summary
#
# - A stale read is not bad luck: it is a read that arrived before the consumer reached the write. Its rate
#   follows consumer lag, which follows backlog, load and processing time.
# - Answering "accepted" does not make the user's request faster (a commit costs about what a produce with its
#   acknowledgement costs); it moves the work to later, and the user sees the gap.
# - Where a person needs to see their own change, write it in the request. Publish a business fact
#   (`ProfileChanged`) for the boundaries that only need to know, and let them catch up in their own time.
# - Watch consumer lag anyway: in the sync design it no longer hurts the user, but it still delays the CRM and
#   analytics.
#
# ## Questions to discuss
#
# 1. Which screens in your own product show data right after the user changed it? Is the read on those screens
#    served by the same store the write went to, or by something fed from events?
# 2. How far behind can your slowest consumer fall on a bad day (a bulk import, a replay, a deploy)? Would
#    anyone notice before a user did?
# 3. Where would you rather pay a few milliseconds in the request than explain a stale screen, and where is
#    "eventually" genuinely fine?
