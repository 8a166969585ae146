# %% [markdown]
# # Exercise 02: write an outbox relay that survives its own crash
#
# **Lesson.** This exercise follows lesson 03 (lost messages, dual write and the outbox). The service already
# writes each `OrderPlaced` event into an outbox table in the same transaction as the order. Nothing reaches the
# `orders` topic until a relay publishes the rows: you write that relay.
#
# **Your task.** Write the generator `relay(outbox, broker, ctx)`. It runs for as long as the service does, so it
# loops: read the rows not yet published, publish each one, mark it published, wait a little, read again. Whatever
# crashes happen:
#
# * **no event is lost**: every committed row reaches the `orders` topic;
# * **in order**: rows are first published in the order the service wrote them;
# * **duplicates bounded**: a relay cannot avoid publishing a row twice when it crashes between the broker's
#   acknowledgement and the mark (lesson 03), but it may publish at most **one extra copy per crash**;
# * **outbox drained**: at the end every row is marked published.
#
# **Your tools, and only these.**
#
# * `outbox.unpublished(limit=None)`: the committed rows not yet marked, oldest first; each row has `seq` (its
#   position), `event_id`, `key` and `payload`. Reading is instant and cannot fail;
# * `yield from broker.publish(row)`: publish the row's event to `orders` and wait for the acknowledgement;
# * `yield from outbox.mark(row)`: commit, in the database, that the row was published;
# * `ctx.now` (ms), `yield ctx.timeout(ms)`, and `ctx.crash_point(name)` if you want an extra crash point.
#
# **What a crash does.** The relay process dies on the spot and comes back 200 ms later, running your cell again
# from scratch: Python variables are gone, the database and the topic keep what was committed and acknowledged.
# Only one relay runs at a time.
#
# **How it is graded.** `sk.grading.check("02", relay)` sends this cell to a fresh grading process. It runs the
# relay on two workloads. With 5 orders: once without crashes, then once with a crash before and after every
# publish and every mark, for every row, then twice with random crashes (at most three a run). With a burst of
# 12 orders a few milliseconds apart, so that rows pile up: once without crashes and twice with random crashes.
# Points are fixed: correct without crashes 2, no lost event 3, in order 2, duplicates bounded 2, outbox drained 1.

# %%
import simkit as sk


# %% [markdown]
# ## Your relay
#
# The cell below is the one you change, and the only one graded. This reference answer publishes each row, waits
# for the acknowledgement and only then marks it.

# %% tags=["solution"]
def relay(outbox, broker, ctx):
    """Publish, wait for the ack, mark: one row at a time, oldest first."""
    while True:
        for row in outbox.unpublished():
            yield from broker.publish(row)
            yield from outbox.mark(row)  # a crash before this line repeats this one row, and no other
        yield ctx.timeout(100)


# %% [markdown]
# ## Grade it
#
# This takes a few seconds. It prints the points per criterion, the reason for every point lost and the smallest
# run that went wrong (its seed and where the crash struck), then draws the points and that run.
#
# If a run went wrong, the timeline below shows the smallest one: the crash (a cross) and, circled in red, the
# events it hurt. Below it, the trace rows of the first of them: look for the `append` rows of one event (a repeat)
# and the mark that did or did not follow.
#
# `sk.grading.show(grade)` prints and draws it all again.

# %%
grade = sk.grading.check("02", relay)

# %% [markdown]
# ## What to remember
#
# * Publish, wait for the acknowledgement, then mark: in that order a crash can only repeat a row, never lose it.
# * Mark each row right after its own acknowledgement, so a crash repeats at most the one row in hand.
# * Consumers of the topic still see that repeat: they dedupe by the event id the row carries (lesson 06).
#
# **Going further.** Mark the whole batch only after publishing all of it, and poll once a second. Which
# criterion loses its points, and how many extra copies does one crash cost now?
