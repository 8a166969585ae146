# %% [markdown]
# # Exercise 03: choose the partition key of account events
#
# **Lesson.** This exercise follows lesson 05 (ordering and hot keys). Kafka keeps the records of one partition
# in order and promises nothing across partitions; the producer's default partitioner sends every record with the
# same key to the same partition. So the key decides both what stays in order and how the load spreads.
#
# **Your task.** A bank publishes its account events to a topic of **6 partitions**, read by a group of 6
# consumers. Write `key_for(event)`, which returns the key each event is sent with, so that:
#
# * **per-account order holds**: the balance events of an account (`Deposited`, `Withdrawn`, `FeeCharged`) are
#   applied by the consumers in the order they were sent. The grader counts an account whose balance events went
#   to more than one partition as a failure even if the consumers happened to apply them in order, because then
#   nothing but timing kept them in order;
# * **the load spreads**: the busiest partition carries **at most 30%** of all records (an even spread is about
#   17%). One account, an integration that polls its balance all day, sends about 40% of all events, most of them
#   read-only (`BalanceChecked`, `StatementViewed`). Read-only events change nothing, so their order does not
#   matter. Which account is the busy one changes from case to case: your key must not name it.
#
# **Your tools, and only these.** `event.account` (such as `"acct-07"`), `event.kind` (one of the five kinds
# above), `event.region` (`"eu"`, `"us"` or `"apac"`), `event.event_id` (unique, such as `"e-42"`) and
# `event.seq` (the account's own counter: 1, 2, 3, ...). Return a `str`, `bytes` or `None`. A key is hashed
# with murmur2, as Kafka's Java producer does; records without a key (`None`) go to the sticky partition of
# KIP-480, which changes with every batch.
#
# **How it is graded.** `sk.grading.check("03", key_for)` sends this cell to a fresh grading process (so nothing
# else in this notebook can change the grade). It runs three cases of 600 events, each with a different busy
# account (the third drawn from the case's seed), without crashes: `key_for` is a pure function with no durable step, so there is nothing to crash.
# Points are fixed: per-account order 5, load spread 5. A
# `key_for` that raises or returns something else than a str, bytes or None scores zero, with the reason.

# %%
import simkit as sk


# %% [markdown]
# ## Your key
#
# The cell below is the one you change, and the only one graded. The version given here keys every event by its
# account: run it and see which criterion it loses.

# %% tags=["solution"]
def key_for(event):
    """One key per account: every event of an account lands on one partition."""
    return event.account


# %% [markdown]
# ## Grade it
#
# This takes a few seconds. It prints the points per criterion, the reason for every point lost and the smallest
# run that went wrong (its seed and which account was busy), then draws the points and that run.
#
# The share of all records each partition carried, in the run that went wrong (or in the first case if none
# did), against the 30% limit. A partition far above the others carries the busy account's events.
#
# `sk.grading.show(grade)` prints and draws it all again.

# %%
grade = sk.grading.check("03", key_for)

# %% [markdown]
# ## What to remember
#
# * Kafka orders a partition, not a topic: whatever must stay in order needs one key, the same for all of it.
# * Order only what needs order. Events that change nothing (reads, views, pings) may take any key, or none, and
#   that is what lets a busy account's traffic spread.
# * A key with few values (a region, a constant) can never use more partitions than it has values; a key that
#   names today's busy customer breaks tomorrow.
#
# **Going further.** Suppose the busy account also sent most of the *balance* events. Could any key meet both
# criteria? What would you change instead: the number of partitions, the consumers, or what "in order" means?
