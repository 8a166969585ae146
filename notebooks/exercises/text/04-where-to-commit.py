# %% [markdown]
# # Exercise 04: where to commit in a poll loop with a worker pool
#
# **Lesson.** This exercise follows lesson 04 (commit policies). There the consumer processed each record in its
# poll loop; here the loop hands records to a pool of workers and goes on polling, which is exactly where
# committing "after the poll" stops being safe.
#
# **Your task.** Write the generator `consume(consumer, pool, ctx)`: it polls `payments`, hands every record to
# the pool and commits offsets, for ever. Whatever crashes happen:
#
# * **no record is lost**: every payment's side effect is done at least once;
# * **duplicates bounded**: after a crash the consumer may redo some records, but at most two polls' worth
#   (8 records) per crash;
# * **offsets committed**: at the end the committed offset is the end of the log.
#
# **Your tools, and only these.**
#
# * `records = yield from consumer.poll()`: up to 4 records after the consumer's position (it waits up to 100 ms
#   and may return `[]`); each record has `key`, `msg_id`, `value` and `offset`;
# * `done = pool.submit(record)`: one of 3 workers does the record's side effect; `done` is an event that fires
#   when it has;
# * `yield from consumer.commit()`: a synchronous commit of the position, that is of every record polled so far
#   (Kafka's `commitSync()`); `consumer.commit(offset)` commits `offset`, the next record to read;
# * `consumer.store_offset(record)`: librdkafka's offset store with `enable.auto.offset.store=false`; a timer
#   commits the latest stored offset every 200 ms (`auto.commit.interval.ms`);
# * `ctx.now` (ms), `yield ctx.timeout(ms)`, `yield ctx.all_of(events)`, and `ctx.crash_point(name)`.
#
# **What a crash does.** The loop, the workers and the timer stop at once; records a worker had not finished are
# not done. 200 ms later the consumer starts again from the committed offset, running your cell again from
# scratch. One consumer owns the one partition.
#
# **How it is graded.** `sk.grading.check("04", consume)` sends this cell to a fresh grading process. It runs your
# loop once without crashes, then once with a crash before and after every offset commit (yours and the
# timer's) and every worker's side effect, then with random crashes. Points are fixed: correct without crashes 2,
# no lost record 4, duplicates bounded 3, offsets committed 1.

# %%
import simkit as sk


# %% [markdown]
# ## Your poll loop
#
# The cell below is the one you change, and the only one graded. The version given here commits right after
# handing the batch to the pool.

# %% tags=["solution"]
def consume(consumer, pool, ctx):
    """Poll, hand the batch to the workers, commit at once: the workers may not be done."""
    while True:
        records = yield from consumer.poll()
        for record in records:
            pool.submit(record)
        yield from consumer.commit()


# %% [markdown]
# ## Grade it
#
# This takes a few seconds. It prints the points per criterion, the reason for every point lost and the smallest
# run that went wrong (its seed and where the crash struck), then draws the points and that run.
#
# If a run went wrong, the timeline below shows the smallest one: the crash (a cross) and, circled in red, the
# records it hurt. Below it, the trace rows of the first of them: look for its `processed` row, or its missing one, and
# the `commit` rows around the crash.
#
# `sk.grading.show(grade)` prints and draws it all again.

# %%
grade = sk.grading.check("04", consume)

# %% [markdown]
# ## What to remember
#
# * With a worker pool, "polled" is not "done": committing the position after a poll commits records still in
#   the workers' hands, and a crash loses them.
# * Commit (or store, librdkafka's way) only offsets whose records are done, and only up to the first one
#   that is not.
# * Commit after every batch, or let the timer do it: the less often, the more a crash repeats.
#
# **Going further.** Store each record's offset as soon as you hand it to the pool. The timer still commits
# every 200 ms: which criterion loses its points, and at which crash point?
