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
