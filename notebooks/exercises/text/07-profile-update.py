# %% [markdown]
# # Exercise 07: a profile update that reads its own write and loses no event
#
# **Lesson.** This exercise follows lesson 01 (read your own writes). A user changes their profile, for example
# their email address. Two parties care: the user, who reads the profile back right after saving it, and the CRM,
# which learns of the change from a `ProfileChanged` event on the `profile-changes` topic.
#
# **Your task.** Write the generator `update(request, db, broker, ctx)`, the profile service's update handler.
# Split the work in two: the synchronous part, which the user waits for, and the event, which may go out later.
# Whatever crashes happen, and even while the broker is down:
#
# * **reads see own write**: when your handler returns (the answer), the user's next read of `profiles` must show
#   the change, so the change must be committed before you answer; a request changes some fields, so the rest of
#   the profile stays as it was;
# * **no lost event**: every change committed to `profiles` reaches the CRM as an event;
# * **no phantom event**: no event goes out for a change that was never committed.
#
# **Your tools, and only these.**
#
# * `request.user_id`, `request.changes` (a dict of fields, such as `{"email": ...}`) and `request.request_id`;
# * `db.transaction()` gives a transaction `tx` with `tx.get(table, key, default)`, `tx.put(table, key, value)`,
#   `tx.add_event(topic, key, value)` and `yield from tx.commit()`. The profile lives in table `profiles`, one
#   row per user (a dict). `tx.add_event` writes an outbox row in the same transaction; after the commit the
#   grader's relay publishes it (lesson 03), also once the broker is back;
# * `yield from broker.publish(topic, key, value)`: publish straight to the broker and wait for the ack. While the
#   broker is down it raises `BrokerUnavailable`;
# * `ctx.now` (ms), `yield ctx.timeout(ms)`, and `ctx.crash_point(name)` if you want an extra crash point.
#
# **What the grader runs.** Six updates by three users, one at a time. The broker is down from 150 ms to 400 ms,
# in every run. A crash kills the service with the request in hand: that user gets no answer and does not retry.
# The service comes back 200 ms later, running your cell again from scratch. A request that ends in an error from
# the broker or the database is counted as a failed update; any other exception scores zero, with the reason.
#
# **How it is graded.** `sk.grading.check("07", update)` sends this cell to a fresh grading process. It runs the
# workload once without crashes, then once with a crash before and after every commit and every publish, for
# every request, then with random crashes (at most three a run). Points are fixed: correct without crashes 2
# (this includes no failed update while the broker is down), reads see own write 2, no lost event 3, no phantom
# event 3.

# %%
import simkit as sk


# %% [markdown]
# ## Your handler
#
# The cell below is the one you change, and the only one graded. The version given here commits the profile and
# then publishes the event straight to the broker: a dual write.

# %% tags=["solution"]
def update(request, db, broker, ctx):
    """Commit the profile, then publish the event: two writes to two systems."""
    tx = db.transaction()
    profile = dict(tx.get("profiles", request.user_id, {}))
    profile.update(request.changes)
    tx.put("profiles", request.user_id, profile)
    yield from tx.commit()
    yield from broker.publish("profile-changes", request.user_id, {"type": "ProfileChanged", **request.changes})
    return profile


# %% [markdown]
# ## Grade it
#
# This takes a few seconds. It prints the points per criterion, the reason for every point lost and the smallest
# run that went wrong (its seed and where the crash struck), then draws the points and that run.
#
# If a run went wrong, the timeline below shows it. Below it, the trace rows of the first request it hurt: look
# for its `profile_committed` row and whether an `append` to `profile-changes` followed.
#
# `sk.grading.show(grade)` prints and draws it all again.

# %%
grade = sk.grading.check("07", update)

# %% [markdown]
# ## What to remember
#
# * The user's own read needs the change committed before the answer. That part is synchronous.
# * The event can wait, but it must not be lost: put it in the same transaction as the change (an outbox row),
#   and let a relay publish it. Both exist or neither does.
# * Publishing before the commit tells the CRM about a change that may never happen.
#
# **Going further.** Commit the profile in one transaction and the outbox row in a second one. Which criterion
# loses its points, and at which crash point?
