# %% [markdown]
# # Exercise 08: the order workflow's payment step, with declines and timeouts
#
# **Lesson.** This exercise follows lesson 10 (workflows, not rollbacks). An order is a workflow of business
# facts: placed, paid or declined, shipped or cancelled. The hard case is the payment call that times out: the
# provider may have charged the card, or not, and the workflow cannot know without asking.
#
# **Your task.** Write the generator `handle(event, tools, ctx)`. It gets one `OrderPlaced` event at a time
# (`event.order_id`, `event.amount`) and must end every order in exactly one of two facts, `OrderShipped` or
# `OrderCancelled` (emitted once; after a crash the redelivered order may emit its fact again, as at-least-once
# delivery does). Whatever crashes happen:
#
# * **never charged twice**: the provider makes at most one successful charge per order;
# * **never shipped unpaid**: the carrier ships only orders whose charge was approved;
# * **no stuck order**: every order ends with `OrderShipped` (and was shipped) or `OrderCancelled` (and was not);
# * **no paid order cancelled**: an order whose charge went through is not cancelled.
#
# **Your tools, and only these.**
#
# * `yield from tools.payments.charge(order_id, amount, idempotency_key)`: charges `amount` (the order's,
#   `event.amount`, as it came); returns `"approved"`, or raises
#   `tools.PaymentDeclined`, or raises `tools.Timeout` when no answer came within 100 ms. After a timeout the
#   charge may still go through. The provider makes at most one charge per idempotency key;
# * `yield from tools.payments.status(idempotency_key)`: `"approved"`, `"declined"`, or `None` when no charge with
#   that key has reached the provider yet;
# * `yield from tools.shipping.ship(order_id)`: the carrier ships an order once, however often you call it;
# * `yield from tools.emit(fact, order_id)`: publish a business fact, `"OrderShipped"` or `"OrderCancelled"`;
# * `tools.db.transaction()` with `get`, `put` and `yield from commit()`, if you want to keep state;
# * `ctx.now` (ms), `yield ctx.timeout(ms)`, and `ctx.crash_point(name)` if you want an extra crash point.
#
# **What the grader runs.** Eight orders; two of them have cards the provider declines. Payments sent between
# 100 ms and 400 ms are slow (300 ms), so they time out, yet the provider still records them. A crash kills the
# workflow with the order in hand; 200 ms later it starts again, running your cell from scratch, and gets the
# same event again (at-least-once). Python variables do not survive a crash; the database does.
#
# **How it is graded.** `sk.grading.check("08", handle)` sends this cell to a fresh grading process. It runs the
# workload once without crashes, then once with a crash before and after every charge, ship, fact and commit,
# for every order, then with random crashes. It also runs eight other orders once without crashes, with the slow
# spell at another time, so waiting for the slow spell to end is no way around a timeout. Points are fixed, 2 per
# criterion: correct without crashes, never charged twice, never shipped unpaid, no stuck order, no paid order
# cancelled.

# %%
import simkit as sk


# %% [markdown]
# ## Your workflow step
#
# The cell below is the one you change, and the only one graded. The version given here treats a timeout as a
# decline and cancels the order.

# %% tags=["solution"]
def handle(event, tools, ctx):
    oid = event.order_id
    try:
        yield from tools.payments.charge(oid, event.amount, idempotency_key=oid)
    except (tools.PaymentDeclined, tools.Timeout):
        yield from tools.emit("OrderCancelled", oid)
        return

    yield from tools.shipping.ship(oid)
    yield from tools.emit("OrderShipped", oid)

# %% [markdown]
# ## Grade it
#
# This takes a few seconds. It prints the points per criterion, the reason for every point lost and the smallest
# run that went wrong (its seed and where the crash struck), then draws the points and that run.
#
# If a run went wrong, the timeline below shows it. Below it, the trace rows of the first order it hurt: look for
# its `charged` row at the provider and the fact the workflow emitted.
#
# `sk.grading.show(grade)` prints and draws it all again.

# %%
grade = sk.grading.check("08", handle)

# %% [markdown]
# ## What to remember
#
# * A timeout is a third outcome, "unknown", not a decline: the charge may have gone through.
# * Use the order as the idempotency key, so that asking again can never charge again; then reconcile by asking
#   the provider what happened.
# * The workflow is redelivered after a crash: every step must be safe to do again.
#
# **Going further.** Retry the charge with a fresh idempotency key on each timeout. Which criterion loses its
# points, and what does the provider's trace show?
