"""Exercise 04's bank: poll loops a learner might write, with their points per criterion.

Points are (correct without crashes 2, no lost record 4, duplicates bounded 3, offsets committed 1).
"""

FULL = (2, 4, 3, 1)

REFERENCE = '''
def consume(consumer, pool, ctx):
    while True:
        records = yield from consumer.poll()
        if records:
            yield ctx.all_of([pool.submit(r) for r in records])
            yield from consumer.commit()
'''

STARTER_FAULTS = ((2, 0, 3, 1), "not finished")

BANK = {
    # Lets three polls' work go uncommitted: with payments 25 ms apart polls hold one or two records and the
    # repeats stay under two polls' worth; the burst case (every poll full) shows it.
    "commits_every_third_poll_and_when_idle": ('''
def consume(consumer, pool, ctx):
    polls = 0
    while True:
        records = yield from consumer.poll()
        if records:
            yield ctx.all_of([pool.submit(r) for r in records])
            polls += 1
        if polls % 3 == 0 or not records:
            yield from consumer.commit()
''', (2, 4, 0, 1), "commit after each batch"),
    # Ends at its first empty poll: with payments 25 ms apart and a burst, no poll comes back empty before the
    # last payment, so it lost nothing, yet the text says the loop runs for ever (a later payment would be lost).
    "stops_at_the_first_empty_poll": ('''
def consume(consumer, pool, ctx):
    records = yield from consumer.poll()
    while records:
        yield ctx.all_of([pool.submit(r) for r in records])
        yield from consumer.commit()
        records = yield from consumer.poll()
''', (0, 0, 3, 1), "loop for ever"),
    "commit_after_submitting": ('''
def consume(consumer, pool, ctx):
    while True:
        records = yield from consumer.poll()
        for r in records:
            pool.submit(r)
        yield from consumer.commit()
''', (2, 0, 3, 1), "not finished"),
    "commit_before_processing": ('''
def consume(consumer, pool, ctx):
    while True:
        records = yield from consumer.poll()
        yield from consumer.commit()
        yield ctx.all_of([pool.submit(r) for r in records])
''', (2, 0, 3, 1), "not finished"),
    "never_commits": ('''
def consume(consumer, pool, ctx):
    while True:
        records = yield from consumer.poll()
        yield ctx.all_of([pool.submit(r) for r in records])
''', (0, 4, 0, 0), "wrong even without a crash"),
    "stores_offsets_when_submitting": ('''
def consume(consumer, pool, ctx):
    while True:
        for r in (yield from consumer.poll()):
            pool.submit(r)
            consumer.store_offset(r)
        yield ctx.timeout(1)
''', (2, 0, 3, 1), "not finished"),
    "commits_the_last_offset_not_the_next": ('''
def consume(consumer, pool, ctx):
    while True:
        records = yield from consumer.poll()
        if records:
            yield ctx.all_of([pool.submit(r) for r in records])
            yield from consumer.commit(records[-1].offset)
''', (0, 4, 3, 0), "wrong even without a crash"),
    "waits_for_the_first_record_only": ('''
def consume(consumer, pool, ctx):
    while True:
        records = yield from consumer.poll()
        if records:
            done = [pool.submit(r) for r in records]
            yield done[0]
            yield from consumer.commit()
''', (2, 0, 3, 1), "not finished"),
    # waits for the last record handed out, as if the workers finished in order: with 3 workers they do not
    "waits_for_the_last_record_only": ('''
def consume(consumer, pool, ctx):
    while True:
        records = yield from consumer.poll()
        if records:
            dones = [pool.submit(r) for r in records]
            yield dones[-1]
            yield from consumer.commit()
''', (2, 0, 3, 1), "not finished"),
    # -- correct but different -------------------------------------------------------------
    "librdkafka_store_offsets_after_processing": ('''
def consume(consumer, pool, ctx):
    while True:
        records = yield from consumer.poll()
        done = [pool.submit(r) for r in records]
        yield ctx.all_of(done)
        for r in records:
            consumer.store_offset(r)
''', FULL, ""),
    "explicit_next_offset_with_a_helper": ('''
def _batch(pool, ctx, records):
    yield ctx.all_of([pool.submit(r) for r in records])
    return records[-1].offset + 1

def consume(consumer, pool, ctx):
    while True:
        records = yield from consumer.poll()
        if records:
            nxt = yield from _batch(pool, ctx, records)
            yield from consumer.commit(nxt)
''', FULL, ""),
    "commits_each_record_as_its_worker_finishes_in_offset_order": ('''
def consume(consumer, pool, ctx):
    while True:
        records = yield from consumer.poll()
        done = [pool.submit(r) for r in records]
        for r, d in zip(records, done):
            yield d
            yield from consumer.commit(r.offset + 1)
''', FULL, ""),
}
