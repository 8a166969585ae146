# %% [markdown]
# # Exercise 10: a consumer-lag alert that catches a stall and lets a busy consumer be
#
# **Lesson.** This exercise follows lesson 08 (poison messages, dead letters and replay), where a blocked partition
# shows up as consumer lag, and lesson 03, where outbox lag (how many) and age (how old) tell different stories.
# Here you write the alert rule itself, and the grader tries it on four situations in the life of a billing consumer.
#
# **Your task.** Write `page(m)`, which returns `True` to page the on-call engineer and `False` otherwise, so that:
#
# * **a stall pages within 60 s**: when the consumer's database call hangs and it stops making progress, your rule
#   pages within 60 s of the moment it got stuck, whether payments arrive five a second or one every 15 s;
# * **a busy consumer never pages**: a healthy consumer never pages, not even when 3,000 payments arrive at once
#   and it needs about 18 s to work through them;
# * **an idle consumer never pages**: after its traffic stops for good, a healthy consumer with nothing to do never
#   pages.
#
# **Your tools.** Every 5 s of simulated time the grader samples the consumer group's one partition, as a lag
# exporter does, and calls `page(m)` with `m.now` (ms), `m.lag` (records behind: the log end offset minus the
# committed offset, what `kafka-consumer-groups --describe` shows), `m.lag_ms` (how long the oldest record not yet
# committed has been waiting, 0 when nothing is behind) and `m.since_commit_ms` (ms since the committed offset last
# moved). Return a `bool`. Your cell's variables live for the whole run, so a rule may remember earlier samples.
#
# **How it is graded.** `sk.grading.check("10", page)` sends this cell to a fresh grading process (so nothing else
# in this notebook can change the grade) and runs six cases of five simulated minutes each: a stall with steady
# traffic, a stall with a trickle, a burst, an idle consumer, a second stall with steady traffic that starts at
# a time drawn from the case's seed (so a rule keyed to the clock, `m.now`, misses a stall) and a second burst,
# also at a time drawn from its seed (so a rule that mutes itself at a moment on the clock pages), without
# crashes of your code: `page` is a
# pure function of the metrics with no durable step (the stalled consumer is the fault). A page is one `alert`
# row in the trace (and a
# `resolved` row when `page` says `False` again). Points are fixed: a stall pages within 60 s 4, a busy consumer
# never pages 3, an idle consumer never pages 3. A `page` that raises or returns something other than a bool
# scores zero, with the reason.

# %%
import simkit as sk


# %% [markdown]
# ## Your alert rule
#
# The cell below is the one you change, and the only one graded. The version given here pages on a large number
# of records behind, so that bursts do not page: run it and see what it misses.

# %% tags=["solution"]
def page(m):
    """Page when more than 5,000 records are waiting."""
    return m.lag > 5000


# %% [markdown]
# ## Grade it
#
# This takes a few seconds. It prints the points per criterion, the reason for every point lost and the case that
# went wrong first, then draws the points and that run.
#
# The committed lag of the run that went wrong, over time, with the moments your rule paged (red) and the moment
# the consumer got stuck (black), if it did.
#
# `sk.grading.show(grade)` prints and draws it all again.

# %%
grade = sk.grading.check("10", page)

# %% [markdown]
# ## What to remember
#
# * Lag in records says how much work is waiting, not whether anyone is working on it: a burst is a lot of work
#   and no emergency, a stall with little traffic is little work and an emergency.
# * The age of the oldest waiting record grows with a stall at one second per second, whatever the traffic.
# * "No commit for a while" is also true of a consumer with nothing to do: pair it with "and something is waiting".
#
# **Going further.** Say your rule pages after 30 s of waiting. What is the fastest a stall can be caught with samples
# every 5 s, and what would it cost the busy case to go that low?
