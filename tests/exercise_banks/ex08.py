"""Exercise 08 (the order workflow's payment step): the reference, wrong answers and a correct variant."""

# Under crashes the starter and ship-on-timeout also leave orders stuck: a crash after ship() and before the
# OrderShipped fact redelivers the order into the slow window, where the retried charge times out again and the
# design cancels (or re-ships) without the fact matching what the carrier did.
FULL = (2, 2, 2, 2, 2)

REFERENCE = '''
def handle(event, tools, ctx):
    oid = event.order_id
    try:
        yield from tools.payments.charge(oid, event.amount, idempotency_key=oid)
        outcome = "approved"
    except tools.PaymentDeclined:
        outcome = "declined"
    except tools.Timeout:
        outcome = None
        while outcome is None:
            yield ctx.timeout(50)
            outcome = yield from tools.payments.status(oid)
    if outcome == "approved":
        yield from tools.shipping.ship(oid)
        yield from tools.emit("OrderShipped", oid)
    else:
        yield from tools.emit("OrderCancelled", oid)
'''

_SHIP = '''
    yield from tools.shipping.ship(oid)
    yield from tools.emit("OrderShipped", oid)
'''

STARTER = '''
def handle(event, tools, ctx):
    oid = event.order_id
    try:
        yield from tools.payments.charge(oid, event.amount, idempotency_key=oid)
    except (tools.PaymentDeclined, tools.Timeout):
        yield from tools.emit("OrderCancelled", oid)
        return
''' + _SHIP

STARTER_FAULTS = ((0, 2, 2, 0, 0), "a timeout means unknown, not declined")

BANK = {
    # the reference, announcing the shipment once more at the end: two facts for every shipped order
    "emits_the_shipped_fact_twice": (REFERENCE.replace(
        '        yield from tools.emit("OrderShipped", oid)\n',
        '        yield from tools.emit("OrderShipped", oid)\n        yield from tools.emit("OrderShipped", oid)\n'),
        (0, 2, 2, 2, 2), "emitted once"),
    # charges under a tuple for the order id: the trace's key comes back from the run as a list, which the grader
    # turns into a tuple again, so the answer gets its feedback instead of a failed grading process
    "charges_under_a_tuple_order_id": (REFERENCE.replace("charge(oid, event.amount", "charge((oid,), event.amount"),
                                       (0, 2, 0, 2, 2), "shipped with no charge"),
    # the amount as a float is the same amount
    "charges_the_amount_as_a_float": (REFERENCE.replace("event.amount", "float(event.amount)"), FULL, ""),
    # the reference, charging the amount in cents of a price it takes to be in euros: the provider charges it
    "charges_the_amount_times_100": (REFERENCE.replace("event.amount", "event.amount * 100"), (0, 2, 2, 2, 2),
                                     "charge the order's own amount"),
    "timeout-as-decline": (STARTER, (0, 2, 2, 0, 0), "a timeout means unknown, not declined"),
    "retry-new-key": ('''
def handle(event, tools, ctx):
    oid = event.order_id
    attempt = 0
    while True:
        try:
            yield from tools.payments.charge(oid, event.amount, idempotency_key=f"{oid}-{attempt}")
            break
        except tools.PaymentDeclined:
            yield from tools.emit("OrderCancelled", oid)
            return
        except tools.Timeout:
            attempt += 1
''' + _SHIP, (0, 0, 2, 2, 2), "new idempotency key"),
    "ship-on-timeout": ('''
def handle(event, tools, ctx):
    oid = event.order_id
    try:
        yield from tools.payments.charge(oid, event.amount, idempotency_key=oid)
    except tools.PaymentDeclined:
        yield from tools.emit("OrderCancelled", oid)
        return
    except tools.Timeout:
        pass
''' + _SHIP, (0, 2, 0, 0, 2), "never confirmed"),
    "ignore-declined": ('''
def handle(event, tools, ctx):
    oid = event.order_id
    try:
        yield from tools.payments.charge(oid, event.amount, idempotency_key=oid)
    except tools.PaymentDeclined:
        pass
    except tools.Timeout:
        while (yield from tools.payments.status(oid)) is None:
            yield ctx.timeout(50)
''' + _SHIP, (0, 2, 0, 2, 2), "declined"),
    "no-retry": ('''
def handle(event, tools, ctx):
    oid = event.order_id
    try:
        yield from tools.payments.charge(oid, event.amount, idempotency_key=oid)
    except tools.PaymentDeclined:
        yield from tools.emit("OrderCancelled", oid)
        return
    except tools.Timeout:
        return
''' + _SHIP, (0, 2, 2, 0, 2), "reconcile"),
    "keys-in-a-dict": ('''
import itertools
KEYS = {}
COUNTER = itertools.count()

def handle(event, tools, ctx):
    oid = event.order_id
    key = KEYS.setdefault(oid, f"{oid}-{next(COUNTER)}")
    while True:
        try:
            yield from tools.payments.charge(oid, event.amount, idempotency_key=key)
            break
        except tools.PaymentDeclined:
            yield from tools.emit("OrderCancelled", oid)
            return
        except tools.Timeout:
            yield ctx.timeout(50)
''' + _SHIP, (2, 0, 2, 2, 2), "Python variables are gone"),
    "waits-out-the-slow-spell": (STARTER.replace("    oid = event.order_id\n", '''    oid = event.order_id
    if ctx.now < 400:
        yield ctx.timeout(400 - ctx.now)
''', 1), (0, 2, 2, 2, 0), "a timeout means unknown, not declined"),
    "asks-status-once-and-takes-none-as-declined": ('''
def handle(event, tools, ctx):
    oid = event.order_id
    try:
        yield from tools.payments.charge(oid, event.amount, idempotency_key=oid)
        outcome = "approved"
    except tools.PaymentDeclined:
        outcome = "declined"
    except tools.Timeout:
        outcome = yield from tools.payments.status(oid)
    if outcome == "approved":
        yield from tools.shipping.ship(oid)
        yield from tools.emit("OrderShipped", oid)
    else:
        yield from tools.emit("OrderCancelled", oid)
''', (0, 2, 2, 2, 0), "charged but cancelled"),
    "retries-once-then-cancels": ('''
def handle(event, tools, ctx):
    oid = event.order_id
    for attempt in range(2):
        try:
            yield from tools.payments.charge(oid, event.amount, idempotency_key=oid)
            break
        except tools.PaymentDeclined:
            yield from tools.emit("OrderCancelled", oid)
            return
        except tools.Timeout:
            pass
    else:
        yield from tools.emit("OrderCancelled", oid)
        return
''' + _SHIP, (0, 2, 2, 0, 0), "a timeout means unknown, not declined"),
    "one-key-for-every-order": ('''
def handle(event, tools, ctx):
    oid = event.order_id
    try:
        yield from tools.payments.charge(oid, event.amount, idempotency_key="charge")
        outcome = "approved"
    except tools.PaymentDeclined:
        outcome = "declined"
    except tools.Timeout:
        outcome = None
        while outcome is None:
            yield ctx.timeout(50)
            outcome = yield from tools.payments.status("charge")
    if outcome == "approved":
''' + _SHIP.replace("\n    ", "\n        ") + '''    else:
        yield from tools.emit("OrderCancelled", oid)
''', (0, 2, 0, 2, 2), "used the idempotency key 'charge' of order-0"),
    "waits-forever-for-an-answer": ('''
def handle(event, tools, ctx):
    while True:
        yield ctx.timeout(1)
''', (0, 2, 2, 0, 2), "handle never returned for order-0"),
    "outcome-kept-in-the-db-and-status-polled": ('''
def handle(event, tools, ctx):
    oid = event.order_id
    tx = tools.db.transaction()
    done = tx.get("orders", oid)
    if done is not None:
        yield from tools.emit(done, oid)
        return
    while True:
        try:
            yield from tools.payments.charge(oid, event.amount, idempotency_key="k:" + oid)
            fact = "OrderShipped"
            break
        except tools.PaymentDeclined:
            fact = "OrderCancelled"
            break
        except tools.Timeout:
            status = yield from tools.payments.status("k:" + oid)
            if status is not None:
                fact = "OrderShipped" if status == "approved" else "OrderCancelled"
                break
    if fact == "OrderShipped":
        yield from tools.shipping.ship(oid)
    tx = tools.db.transaction()
    tx.put("orders", oid, fact)
    yield from tx.commit()
    yield from tools.emit(fact, oid)
''', FULL, ""),
    "retry-same-key": ('''
def handle(event, tools, ctx):
    oid = event.order_id
    while True:
        try:
            yield from tools.payments.charge(oid, event.amount, idempotency_key="pay-" + oid)
            break
        except tools.PaymentDeclined:
            yield from tools.emit("OrderCancelled", oid)
            return
        except tools.Timeout:
            yield ctx.timeout(20)
''' + _SHIP, FULL, ""),
}
