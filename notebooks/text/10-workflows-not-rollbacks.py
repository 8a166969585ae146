# %% [markdown]
# # 10 · Workflows, not rollbacks
#
# **After this lesson you can**
#
# - explain why a database rollback cannot undo a card charge or a shipping label, and show the order a
#   "roll it all back" design leaves charged with nothing to ship;
# - treat a timeout as "outcome unknown" and reconcile it by asking, instead of guessing "it failed";
# - model an order as a workflow of business facts (`PaymentDeclined`, `ShippingFailed`, `PaymentRefunded`, ...)
#   where every failure has a business reaction, and undoing is itself a new fact;
# - show, with a mechanism, why consumers of "row changed" events miss steps that a stream of business facts
#   carries: a state the row passes through between two polls of the change capture never reaches them;
# - compare both pairs of designs over many seeds and read the spread.
#
# **Where we are.** Lesson 09 took the broker away for three seconds. Sending every request through it turned
# the outage into failed requests; publishing straight after the write lost events without a sound; a
# synchronous core with an outbox turned the outage into a backlog that drained afterwards. This lesson leaves
# the broker alone and looks at what we put *into* it, and at what happens when one business operation spans
# systems we do not control.
#
# **The story.** An order needs three systems: our own stock, a **payment provider** and a **carrier**. Things
# go wrong for reasons you can point at in the trace: a card is declined because the order is over its limit; a
# call times out because the provider's work plus the network took longer than the shop was willing to wait;
# the carrier refuses every call during its outage (seconds 4 to 7 by default). The provider and the carrier
# accept an idempotency key (the order id), as real payment and shipping APIs do.
#
# Time is in **milliseconds** in simkit; the figures show seconds.

# %%
import matplotlib.pyplot as plt
import pandas as pd

import simkit as sk

# %% [markdown]
# ## 1. The one-transaction illusion
#
# The `rollback` design opens a database transaction, writes the order and the stock reservation, calls the
# provider, calls the carrier, and commits. Any failure rolls the transaction back, as if nothing had happened.
#
# **Predict.** 200 orders arrive over about 10 s. The carrier is down from 4 s to 7 s, and now and then the
# provider takes longer than the shop's 1 s timeout. After each failure the rollback design rolls its database
# back. How many orders end with the customer **charged** (or a label printed) while the shop has no order to
# ship: none, a handful, or dozens?

# %%
rollback = sk.scenarios.order_workflow("rollback", seed=1)
r = rollback.report
print(f"{r.inconsistent} of {r.orders} orders end with the outside world disagreeing with the shop: "
      f"{r.charged_no_shipment} charged with no order to ship, {r.orphan_labels} with a label and no order")
rollback.report

# %% [markdown]
# `inconsistent` counts orders whose outside world disagrees with the shop. The truth about the outside world is
# what the provider and the carrier wrote in their own trace rows (`charged`, `refunded`, `label_created`,
# `label_voided`), not what the shop believes. Follow one order that met the carrier's outage:

# %%
print(rollback.checks["inconsistent"])
t = rollback.trace
outage_order = t[(t.event == "call_failed") & (t.detail == "carrier: unavailable")].msg_id.iloc[0]
t[t.msg_id == outage_order][["time", "component", "event", "detail"]]

# %% [markdown]
# The database kept its promise: the order and the reservation are gone. But the provider charged the card
# before the carrier refused, and a database rollback does not reach into the provider. A payment timeout is
# worse still: the shop stopped waiting and rolled back, while the provider, which never stopped working on the
# request, charged the card *afterwards*:

# %%
timed_out = t[(t.event == "call_failed") & (t.component == "payments")].msg_id
charged = set(t[t.event == "charged"].msg_id)
late_charge = [o for o in timed_out if o in charged][0]
t[t.msg_id == late_charge][["time", "component", "event", "detail"]]

# %% [markdown]
# The same two orders as timelines, one lane per component. The red ring marks the anomaly: a charge still
# standing when the run ended, for an order the shop rolled back.

# %%
fig, axes = plt.subplots(2, 1, figsize=(11, 7.5))
sk.plots.order_timeline(rollback, outage_order, ax=axes[0])
sk.plots.order_timeline(rollback, late_charge, ax=axes[1])
plt.show()

# %% [markdown]
# ### What the rest of the system hears
#
# A common way to "add events" to such a design is to publish a change event whenever a row commits:
# `OrderUpdated` with the new column values. Here is that stream:

# %%
crud = t[t.event == "OrderUpdated"]
print(len(crud), "OrderUpdated events for", rollback.report.orders, "orders")
crud[["time", "component", "event", "msg_id", "detail"]].head()

# %% [markdown]
# The stream describes rows, not what happened. An order whose card was declined, one whose payment timed out
# and one the carrier could not ship all look the same in it: they produced no event at all, because their rows
# were rolled back. Nobody downstream can contact the customer, refund the charge or even notice. Section 5
# comes back to row events, and shows they lose steps even when nothing is rolled back.
#
# ## 2. The workflow: business facts and business reactions
#
# The `saga` design treats each step as a fact the business cares about, stated by the boundary that owns it,
# and decides what happens next from that fact:
#
# | fact | reaction |
# |---|---|
# | `PaymentDeclined` | release the stock, contact the customer, put the order on hold |
# | `PaymentTimedOut` | the outcome is unknown: ask the provider what happened (`PaymentReconciled`) |
# | `ShippingFailed` (carrier down past the shipping deadline) | refund, release the stock, tell the customer, void any label |
# | `LabelCreated` | the order is complete |
#
# **Predict.** Same orders, same card limits, same provider and carrier. Of the orders the rollback left
# inconsistent, how many does the saga leave inconsistent? And will it cancel *every* order that meets the
# carrier's outage?

# %%
saga = sk.scenarios.order_workflow("saga", seed=1)
met_outage = set(rollback.trace[(rollback.trace.event == "call_failed")
                                & (rollback.trace.detail == "carrier: unavailable")].msg_id)
ends = saga.trace[saga.trace.msg_id.isin(met_outage)
                  & saga.trace.event.isin(["OrderCompleted", "OrderCancelled"])].event.value_counts()
print(f"inconsistent: rollback {rollback.report.inconsistent}, saga {saga.report.inconsistent}. Of the "
      f"{len(met_outage)} orders the rollback lost to the carrier's outage, the saga cancelled "
      f"{ends.get('OrderCancelled', 0)} and shipped {ends.get('OrderCompleted', 0)}.")
pd.DataFrame({"rollback": rollback.report.to_dict(), "saga": saga.report.to_dict()}).loc[
    ["completed", "declined_customer_contacted", "cancelled", "rolled_back", "inconsistent", "refunds",
     "reconciled", "customers_contacted"]]

# %% [markdown]
# The same two orders, told as business facts. The first one is refunded after the shipping deadline; the second
# one's timeout is reconciled by asking the provider (which says "charged"), and the order then meets the
# outage too:

# %%
fig, axes = plt.subplots(2, 1, figsize=(11, 8.5))
sk.plots.order_timeline(saga, outage_order, ax=axes[0])
sk.plots.order_timeline(saga, late_charge, ax=axes[1])
plt.show()

# %% [markdown]
# Notice what the saga does *not* do: it never pretends the charge did not happen. It refunds it, which is a
# new business action with its own trace row (`refunded` at the provider, `PaymentRefunded` in the shop). And
# the carrier outage does not cancel every order it touches: the saga tries again until the shipping deadline,
# so orders paid near the end of the outage still ship.
#
# ## 3. Over several seeds
#
# One seed is one history. Five seeds give five sets of arrivals, amounts and provider times; the bar is the
# mean, the whisker spans the lowest to the highest run, and each dot is one run.

# %%
df = sk.compare("order_workflow", ["rollback", "saga"], seeds=5)
df.groupby("design", sort=False)[["completed", "declined_customer_contacted", "cancelled", "rolled_back",
                                   "inconsistent"]].agg(["mean", "min", "max"])

# %%
sk.plots.workflow_outcomes(df)
plt.show()


# %% [markdown]
# ## 4. Try it: outages and patience
#
# Make the carrier's outage longer or shorter, and the shop more or less patient with the payment provider
# (120 orders, one seed). Can you find settings where the rollback leaves nobody inconsistent? What did you have
# to switch off?

# %%
def explore(outage_s=3.0, payment_timeout_ms=1000, shipping_deadline_ms=2000, seed=1):
    outages = [(4000, outage_s * 1000)] if outage_s > 0 else []
    runs = sk.compare("order_workflow", ["rollback", "saga"], seeds=[seed], orders=120,
                      carrier_outages=outages, payment_timeout=payment_timeout_ms,
                      shipping_deadline=shipping_deadline_ms)
    sk.plots.workflow_outcomes(runs, title=sk.plots.workflow_settings_title(
        runs, outages, payment_timeout=payment_timeout_ms, shipping_deadline=shipping_deadline_ms))
    plt.show()


sk.interact(explore, outage_s=(0.0, 6.0, 0.5), payment_timeout_ms=(200, 3000, 100),
            shipping_deadline_ms=(0, 6000, 500), seed=(0, 20));

# %% [markdown]
# ## 5. Business facts, not row changes
#
# Section 1's `OrderUpdated` stream was silent about the failures because their rows were rolled back. Row
# events have a second, quieter problem, and it shows even when every order succeeds.
#
# **The story.** Each order goes `placed` → `paid` → `shipped`, one committed transaction per step, in the
# order service's `orders` table. A notifications service must send a **receipt** when an order is paid and a
# **tracking e-mail** when it is shipped. A capture process polls the order service's database every 0.5 s
# and publishes what it finds. Two designs (`sk.scenarios.facts_vs_crud`), identical except for *what* is
# captured:
#
# - **`row_changes`** (CRUD events): the capture reads the rows that changed since its last poll and publishes
#   each row's *current* state, `OrderRowChanged {status: ...}`. This is how query-based change capture works
#   (a JDBC source connector polling on a timestamp or version column, for example). The consumer keeps the last
#   status it saw per order and infers what happened from the difference: `placed -> paid` means "send the
#   receipt".
# - **`business_facts`**: the order service writes one fact per step (`OrderPlaced`, `PaymentCaptured`,
#   `OrderShipped`) to the outbox, committed together with the status change; a relay with the same
#   poll interval publishes them. The consumer reacts to the fact's name: `PaymentCaptured` means "send the
#   receipt".
#
# No dice decide who misses a receipt: both designs get the same orders, the same payment and shipping times and
# the same poll interval, so any difference comes from what is captured.
#
# **Predict.** An order is paid a few hundred ms after it is placed, and shipped anywhere from a fraction of a
# second to several seconds after that. Of 200 paid orders, how many receipts does each design fail to send?
# And how many tracking e-mails?

# %%
rows = sk.scenarios.facts_vs_crud("row_changes", seed=1)
facts = sk.scenarios.facts_vs_crud("business_facts", seed=1)
for run in (rows, facts):
    r = run.report
    print(f"{run.params['design']:>14}: {r.missed_receipts} of {r.payments} receipts and {r.missed_tracking} of "
          f"{r.shipments} tracking e-mails never sent; {r.published} records published")
pd.DataFrame({"row_changes": rows.report.to_dict(), "business_facts": facts.report.to_dict()}).loc[
    ["orders", "payments", "published", "receipts_sent", "missed_receipts", "tracking_sent",
     "missed_tracking", "unseen_steps", "reaction_p50"]]

# %% [markdown]
# The row stream carried fewer records than there were steps, and some receipts were never sent. (The facts
# reach the consumer a little later, `reaction_p50`: the relay commits a "published" mark for every row it
# sends, which the row poller does not.) Follow one
# order whose receipt went missing: the order service's rows (`order_placed`, `payment_captured`,
# `order_shipped`), the capture's reads, and what the consumer inferred (`row_diff`):

# %%
missed = rows.checks["missed_receipts"].examples[0]
print(rows.checks["missed_receipts"])
t = rows.trace
t[(t.msg_id == missed) & t.event.isin(["order_placed", "payment_captured", "order_shipped", "row_read",
                                        "row_diff", "receipt_sent", "tracking_sent"])][
    ["time", "component", "event", "detail"]]

# %% [markdown]
# The same order in both designs; the order's own rows are circled and joined in red, the other orders' rows are
# the small dots. In the top panel the dotted lines are the row poller's polls and the shaded span is the time
# the order was `paid`. No poll fell inside it, so the row was read as `placed` and then as `shipped`: the `paid`
# state existed in the database and never reached the stream. In the facts design (bottom) the relay found the
# order's `PaymentCaptured` and `OrderShipped` rows in the outbox at its next read and published both.

# %%
fig, axes = plt.subplots(2, 1, figsize=(11, 9))
sk.plots.capture_timeline(rows, missed, ax=axes[0])
sk.plots.capture_timeline(facts, missed, ax=axes[1])
plt.show()

# %% [markdown]
# The mechanism over all 200 orders: how long each order stayed `paid`, and whether its receipt was sent. Every
# missed receipt belongs to an order that was paid and shipped between two polls.

# %%
sk.plots.paid_window(rows)
plt.show()

# %% [markdown]
# Why not let the consumer infer it: "if I see `placed -> shipped`, it must have been paid"? It works here,
# but only by copying the order service's rules into every consumer. The day the shop lets business customers
# pay on invoice *after* shipping, every copy sends receipts for money that has not arrived. A fact says what
# happened; a row state leaves every reader to reconstruct it. Notice too that no tracking e-mail was missed:
# the *last* state of a row is always captured eventually. What gets lost are the states it passes through.
# A capture that reads the database's change log instead of polling would see every state; each reader would
# still have to work out from two row images what the business did, with a copy of the rules to do it.
#
# ## 6. Over seeds, and over the poll interval
#
# **Predict.** Poll faster and fewer orders are paid and shipped between two polls. Would polling every 0.1 s
# make the row stream safe? And what happens to the facts design when its relay polls only every 2 s?
#
# Six seeds of each design at three poll intervals (36 runs):

# %%
by_poll = sk.sweep("facts_vs_crud", {"design": ["row_changes", "business_facts"],
                                     "poll_interval": [100, 500, 2000]}, seeds=6)
missed = by_poll.groupby(["design", "poll_interval"], sort=False)["missed_receipts"].agg(["mean", "min", "max"])
for (design, poll), m in missed.iterrows():
    print(f"{design:>14}, poll every {poll / 1000:g} s: {m['mean']:.1f} receipts missed a run "
          f"({m['min']:.0f} to {m['max']:.0f})")
missed

# %% [markdown]
# At the default 0.5 s poll, the bars are the mean over the six seeds and the whiskers the lowest and highest
# run (`missed_tracking` is zero for both designs: the bars are there, flat). Then the same comparison across
# poll intervals, the shaded band spanning the lowest to the highest seed.

# %%
at_500 = by_poll[by_poll.poll_interval == 500]
spread = at_500.groupby("design", sort=False)["missed_receipts"].agg(["mean", "min", "max"])
worst = spread.loc["row_changes"]
fig, ax = plt.subplots(figsize=(9, 4))
sk.plots.outcome_bars(at_500, ["missed_receipts", "missed_tracking"], ax=ax, ylabel="orders per run (of 200)",
                      title=f"poll every 0.5 s: row changes missed {worst['mean']:.0f} receipts per run "
                            f"({worst['min']:.0f} to {worst['max']:.0f} over {len(at_500) // 2} seeds);\n"
                            f"business facts missed {spread.loc['business_facts', 'max']:.0f}")
plt.show()

# %%
sk.plots.missed_vs(by_poll)
plt.show()


# %% [markdown]
# Faster polling shrinks the loss; it cannot promise to remove it, because an order can be paid and shipped
# within milliseconds (at 0.1 s some seeds miss none, others a few). The facts design misses nothing at any
# poll interval: a slower relay makes the receipt *late*, never missing.
#
# ## 7. Try it: how fast does the warehouse ship?
#
# Move the poll interval and the median time from payment to shipment (120 orders, one seed). Where does the
# row stream become reliable, and what would polling that often cost the order service's database?

# %%
def explore_facts(poll_interval_ms=500, ship_median_ms=800, seed=1):
    shipping = sk.lognormal(median=ship_median_ms, p99=10 * ship_median_ms)
    runs = {design: sk.scenarios.facts_vs_crud(design, seed=seed, orders=120, poll_interval=poll_interval_ms,
                                               shipping_time=shipping)
            for design in ["row_changes", "business_facts"]}
    missed = {design: run.report.missed_receipts for design, run in runs.items()}
    sk.plots.paid_window(runs["row_changes"],
                         title=f"of {runs['row_changes'].report.payments:.0f} paid orders, receipts missed: "
                               f"row changes {missed['row_changes']:.0f}, business facts "
                               f"{missed['business_facts']:.0f}")
    plt.show()


sk.interact(explore_facts, poll_interval_ms=(50, 2000, 50), ship_median_ms=(100, 4000, 100), seed=(0, 20));

# %% [markdown]
# ## Try it yourself
#
# 1. Set `shipping_deadline=0` (the saga gives up after the first failed label call). How do `cancelled` and
#    `completed` change for the saga? What does that say about where the retry policy belongs: in the
#    technical layer or in the business rules?

# %%

# %% [markdown]
# 2. In the rollback design, which orders end up with a *live label* but no order in the database
#    (`orphan_labels`)? Find one in the trace and draw it with `sk.plots.order_timeline`. (Hint: look for a
#    carrier timeout.)

# %%

# %% [markdown]
# 3. Find the smallest `poll_interval` at which `row_changes` misses no receipt over five seeds. Then run it
#    with `shipping_time=sk.lognormal(median=50, p99=500)`: does your interval still hold?

# %%

# %% [markdown]
# ## Summary
#
# - A database transaction rolls back the database. Charges, labels and e-mails outside it stay: once a workflow
#   talks to other systems, "just roll back" is not available.
# - A timeout means "I don't know", not "it failed". Reconcile by asking, and make the other side idempotent
#   (an idempotency key) so that asking again cannot do it twice.
# - Model the workflow with facts the business would name (declined, timed out, could not ship, refunded) and
#   give each a business reaction. Undoing is itself a business action with its own fact.
# - Row events tell you what a row looks like now. A consumer that diffs them misses every state the row passed
#   through between two captures (here about one receipt in six at a 0.5 s poll); business facts are appended,
#   never overwritten, so each reaction has its fact.
#
# ## Questions to discuss
#
# 1. Where in your systems does one operation call something you cannot roll back (a payment, an e-mail,
#    another team's API)? What is the business reaction when that call times out?
# 2. Which of your events are really "row changed" notifications (change data capture, ORM hooks)? Which
#    consumers diff states to guess what happened, and what would they miss?
# 3. Log-based capture sees every committed version of a row, not just the latest. Does that make row events
#    good enough? What would a consumer still have to know about the producer's rules?
# 4. Who should decide how long to retry the carrier before refunding the customer: the engineers, or the
#    people who own the order process? Who decides it today?
