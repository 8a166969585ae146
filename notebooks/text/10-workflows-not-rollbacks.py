# %% [markdown]
# # 10 · Workflows, not rollbacks
#
# **Where we are.** Lesson 09 showed that the broker keeps order per partition only, that keying by the entity
# keeps one entity's events in order, that the idempotent producer keeps retries from reordering, and that a hot
# key trades throughput against order.
#
# **What this lesson covers**
#
# - an order that needs three systems: our stock, a **payment provider** and a **carrier**;
# - why "wrap it all in one database transaction and roll back on failure" does not undo anything outside the
#   database: a charge that went through after a timeout, or a label already printed, stays;
# - modelling the order as a **workflow of business facts** (`PaymentDeclined`, `PaymentTimedOut`,
#   `ShippingFailed`, ...), each with a business reaction: release the stock, tell the customer, ask the
#   provider what really happened, void the label, refund;
# - why events should state what happened in business terms instead of which table row changed.
#
# Failures here have causes you can point at: a card is declined because the order is over its limit; a call
# times out because the provider's work plus the network took longer than the shop was willing to wait; the
# carrier refuses every call during its outage (seconds 4 to 7 by default). The provider and the carrier accept
# an idempotency key (the order id), as real payment and shipping APIs do.

# %%
import matplotlib.pyplot as plt
import ipywidgets as widgets
import pandas as pd

import simkit as sk

# %% [markdown]
# ## 1. The one-transaction illusion
#
# The `rollback` design opens a transaction, writes the order and the stock reservation, calls the provider,
# calls the carrier, and commits. Any failure rolls the transaction back.

# %%
rollback = sk.scenarios.order_workflow("rollback", seed=1)
rollback.report

# %% [markdown]
# `inconsistent` counts orders whose outside world disagrees with the shop: the provider's and the carrier's own
# trace rows (`charged`, `refunded`, `label_created`, `label_voided`) say a customer was charged while the shop
# has no order to ship. Follow one that met the carrier's outage:

# %%
print(rollback.checks["inconsistent"])
t = rollback.trace
outage_order = t[(t.event == "call_failed") & (t.detail == "carrier: unavailable")].msg_id.iloc[0]
t[t.msg_id == outage_order][["time", "component", "event", "detail"]]

# %% [markdown]
# The database did exactly what it promised: the order and the reservation are gone, as if nothing happened.
# But the provider charged the card, and no rollback reaches into the provider. Payment timeouts are worse
# still: the shop gave up waiting, rolled back, and the provider, which never stopped working on the request,
# charged the card *afterwards*:

# %%
timed_out = t[(t.event == "call_failed") & (t.component == "payments")].msg_id
charged = set(t[t.event == "charged"].msg_id)
late_charge = [o for o in timed_out if o in charged][0]
t[t.msg_id == late_charge][["time", "component", "event", "detail"]]

# %% [markdown]
# ### What the rest of the system hears: CRUD events
#
# A common way to "add events" to such a design is to publish a change event whenever a row changes:
# `OrderUpdated` with the new column values. Here is that stream:

# %%
t = rollback.trace
crud = t[t.event == "OrderUpdated"]
print(len(crud), "OrderUpdated events for", rollback.report.orders, "orders")
crud[["time", "component", "event", "msg_id", "detail"]].head()

# %% [markdown]
# The stream describes rows, not what happened. An order whose card was declined, one whose payment timed out
# and one the carrier could not ship all look the same in it: they produced no event at all, because their rows
# were rolled back. Nobody downstream can contact the customer, refund the charge or even notice.
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

# %%
saga = sk.scenarios.order_workflow("saga", seed=1)
pd.DataFrame({"rollback": rollback.report.to_dict(), "saga": saga.report.to_dict()}).loc[
    ["completed", "declined_customer_contacted", "cancelled", "rolled_back", "inconsistent", "refunds",
     "reconciled", "customers_contacted"]]

# %% [markdown]
# The same order that the rollback left charged, told as business facts:

# %%
t = saga.trace
t[(t.msg_id == outage_order) & (t.event != "db_commit")][["time", "component", "event", "detail"]]

# %% [markdown]
# And the payment that timed out, reconciled instead of guessed:

# %%
t[(t.msg_id == late_charge) & (t.event != "db_commit")][["time", "component", "event", "detail"]]

# %% [markdown]
# Notice what the saga does *not* do: it never pretends the charge did not happen. It refunds it, which is a
# new business action with its own trace row. And the carrier outage does not cancel every order it touches: the
# saga tries again until the shipping deadline, so orders paid near the end of the outage still ship.
#
# ## 3. Over several seeds

# %%
df = sk.compare("order_workflow", ["rollback", "saga"], seeds=5)
df.groupby("design", sort=False)[["completed", "declined_customer_contacted", "cancelled", "rolled_back",
                                   "inconsistent"]].mean()

# %%
sk.plots.workflow_outcomes(df)
plt.show()


# %% [markdown]
# ## 4. Try it
#
# Make the carrier's outage longer or shorter, and the shop more or less patient with the payment provider.
# Can you find settings where the rollback leaves nobody inconsistent? What did you have to switch off?

# %%
def explore(outage_s=3.0, payment_timeout=1000, shipping_deadline=2000, seed=1):
    outages = [(4000, outage_s * 1000)] if outage_s > 0 else []
    runs = sk.compare("order_workflow", ["rollback", "saga"], seeds=[seed], orders=120,
                      carrier_outages=outages, payment_timeout=payment_timeout,
                      shipping_deadline=shipping_deadline)
    sk.plots.workflow_outcomes(runs)
    plt.show()


widgets.interact(explore, outage_s=(0.0, 6.0, 0.5), payment_timeout=(200, 3000, 100),
                 shipping_deadline=(0, 6000, 500), seed=(0, 20));

# %% [markdown]
# ## What to remember
#
# - A database transaction rolls back the database. Charges, labels, emails and anything else outside it stay;
#   "just roll back" is not available once a workflow talks to other systems.
# - A timeout does not mean "it failed". It means "I don't know": reconcile by asking, and make the other side
#   idempotent (an idempotency key) so that asking again cannot do it twice.
# - Model the workflow with facts the business would name (declined, timed out, could not ship) and give each a
#   business reaction (contact the customer, refund, void). Undoing is itself a business action.
# - Events that mirror table rows (`OrderUpdated`) say what a row looks like, not what happened; consumers of
#   such a stream cannot react to a declined payment they cannot see.
#
# ## Exercises
#
# 1. Set `shipping_deadline=0` (the saga gives up after the first failed label call). How do `cancelled` and
#    `completed` change for the saga? What does that say about where the retry policy belongs: in the
#    technical layer or in the business rules?

# %%

# %% [markdown]
# 2. In the rollback design, which orders end up with a *live label* but no order in the database
#    (`orphan_labels`)? Find one in the trace and explain the sequence of rows. (Hint: look for a carrier
#    timeout.)

# %%
