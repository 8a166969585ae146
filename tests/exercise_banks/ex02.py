"""Exercise 02's bank: relays a learner might write, with their points per criterion.

Points are (correct without crashes 2, no lost event 3, in order 2, duplicates bounded 2, outbox drained 1).
"""

FULL = (2, 3, 2, 2, 1)

REFERENCE = '''
def relay(outbox, broker, ctx):
    while True:
        for row in outbox.unpublished():
            yield from broker.publish(row)
            yield from outbox.mark(row)
        yield ctx.timeout(100)
'''

STARTER_FAULTS = ((2, 0, 2, 2, 1), "marked before")

BANK = {
    "marks_the_batch_first": ('''
def relay(outbox, broker, ctx):
    while True:
        rows = outbox.unpublished()
        for row in rows:
            yield from outbox.mark(row)
        for row in rows:
            yield from broker.publish(row)
        yield ctx.timeout(100)
''', (2, 0, 2, 2, 1), "marked before"),
    "mark_then_publish_each_row": ('''
def relay(outbox, broker, ctx):
    while True:
        for row in outbox.unpublished():
            yield from outbox.mark(row)
            yield from broker.publish(row)
        yield ctx.timeout(100)
''', (2, 0, 2, 2, 1), "marked before"),
    "never_marks": ('''
def relay(outbox, broker, ctx):
    while True:
        for row in outbox.unpublished():
            yield from broker.publish(row)
        yield ctx.timeout(100)
''', (0, 3, 2, 0, 0), "wrong even without a crash"),
    "marks_the_batch_after_publishing_it_all": ('''
def relay(outbox, broker, ctx):
    while True:
        rows = outbox.unpublished()
        for row in rows:
            yield from broker.publish(row)
        for row in rows:
            yield from outbox.mark(row)
        yield ctx.timeout(1000)
''', (2, 3, 2, 0, 1), "at most one per crash"),
    "one_pass_only": ('''
def relay(outbox, broker, ctx):
    for row in outbox.unpublished():
        yield from broker.publish(row)
        yield from outbox.mark(row)
    yield ctx.timeout(100)
''', (0, 0, 2, 2, 0), "wrong even without a crash"),
    "forgets_yield_from_on_publish": ('''
def relay(outbox, broker, ctx):
    while True:
        for row in outbox.unpublished():
            broker.publish(row)
            yield from outbox.mark(row)
        yield ctx.timeout(100)
''', (0, 0, 2, 2, 1), "wrong even without a crash"),
    "newest_first": ('''
def relay(outbox, broker, ctx):
    while True:
        for row in sorted(outbox.unpublished(), key=lambda r: -r.seq):
            yield from broker.publish(row)
            yield from outbox.mark(row)
        yield ctx.timeout(1000)
''', (0, 3, 0, 2, 1), "wrong even without a crash"),
    # never waits once caught up: an empty outbox makes it spin at one instant of simulated time
    "never_waits_when_caught_up": ('''
def relay(outbox, broker, ctx):
    while True:
        for row in outbox.unpublished():
            yield from broker.publish(row)
            yield from outbox.mark(row)
''', (0, 0, 0, 0, 0), "CPU time"),
    # waits until the service looks done, then drains once and returns: rows committed later are never published
    "waits_then_drains_once_and_returns": ('''
def relay(outbox, broker, ctx):
    yield ctx.timeout(2000)
    for row in outbox.unpublished():
        yield from broker.publish(row)
        yield from outbox.mark(row)
''', (0, 0, 2, 2, 1), "the relay returned at"),
    # marks one row behind its publish: a crash between a publish and the previous row's mark repeats two rows
    "marks_one_row_behind": ('''
def relay(outbox, broker, ctx):
    while True:
        prev = None
        for row in outbox.unpublished():
            yield from broker.publish(row)
            if prev is not None:
                yield from outbox.mark(prev)
            prev = row
        if prev is not None:
            yield from outbox.mark(prev)
        yield ctx.timeout(100)
''', (2, 3, 2, 0, 1), "at most one per crash"),
    # marks only the last row of the batch, as if the mark were a high-water mark
    "marks_only_the_last_row_of_the_batch": ('''
def relay(outbox, broker, ctx):
    while True:
        rows = outbox.unpublished()
        for row in rows:
            yield from broker.publish(row)
        if rows:
            yield from outbox.mark(rows[-1])
        yield ctx.timeout(100)
''', (0, 3, 2, 0, 1), "wrong even without a crash"),
    # -- correct but different -------------------------------------------------------------
    # catching BaseException cannot swallow the grader's crash: the relay still dies there
    "catches_base_exception_around_publish": ('''
def relay(outbox, broker, ctx):
    while True:
        for row in outbox.unpublished():
            try:
                yield from broker.publish(row)
            except BaseException:
                pass
            yield from outbox.mark(row)
        yield ctx.timeout(100)
''', FULL, ""),
    "one_row_at_a_time_with_a_helper": ('''
def _one(outbox, broker, row):
    yield from broker.publish(row)
    yield from outbox.mark(row)

def relay(outbox, broker, ctx):
    while True:
        rows = outbox.unpublished(limit=1)
        if rows:
            yield from _one(outbox, broker, rows[0])
        else:
            yield ctx.timeout(50)
''', FULL, ""),
    "swallows_every_exception": ('''
def relay(outbox, broker, ctx):
    while True:
        for row in outbox.unpublished():
            try:
                yield from broker.publish(row)
            except Exception:
                pass
            yield from outbox.mark(row)
        yield ctx.timeout(100)
''', FULL, ""),
    # caught only by the 12-order burst: with 5 orders "order-0".."order-4" sort the same as strings and numbers
    "sorts_each_batch_by_key": ('''
def relay(outbox, broker, ctx):
    while True:
        for row in sorted(outbox.unpublished(), key=lambda r: r.key):
            yield from broker.publish(row)
            yield from outbox.mark(row)
        yield ctx.timeout(100)
''', (0, 3, 0, 2, 1), "publish rows in the order"),
    "sorts_each_batch_by_seq": ('''
def relay(outbox, broker, ctx):
    while True:
        for row in sorted(outbox.unpublished(), key=lambda r: r.seq):
            yield from broker.publish(row)
            yield from outbox.mark(row)
        yield ctx.timeout(100)
''', FULL, ""),
}
