# %% [markdown]
# # 05 · Schema drift: when the producer changes the shape of its events
#
# **Where we are.** Lesson 04 dealt with records a consumer cannot handle. Letting the consumer crash on such a
# *poison message* stops its partition in a crash loop; skipping it loses it; retrying with back-off and then parking
# it on a **dead-letter topic**, with an alert on the topic's depth, keeps the partition moving and the record safe.
# We also **replayed** history by resetting a consumer group's offsets, which is only harmless when the handler is
# idempotent.
#
# **What this lesson covers.** Producer and consumers of an event are decoupled in code and deployment, but they
# still agree on the event's *shape*. When the producing team changes it, consumers that were not upgraded can no
# longer read the new records. We will:
#
# - change the `PaymentReceived` event four ways (add an optional field, add a required field, remove a field,
#   rename a field) and see which changes break a consumer that still reads with the old version;
# - put a **schema registry** in front of the change, in Confluent's compatibility modes `BACKWARD`, `FORWARD` and
#   `FULL`, and see which changes it refuses, and why the mode must match **who upgrades first**;
# - run a **contract check** a team can put in CI, so the build fails before a breaking change ships.
#
# Records the consumer cannot decode go to the dead-letter topic of lesson 04, so nothing is lost: the damage shows as
# decode failures and dead letters.

# %%
import matplotlib.pyplot as plt
import ipywidgets as widgets

import simkit as sk

# %% [markdown]
# ## 1. The event and the four changes
#
# Version 1 has three required fields. Each change gives a version 2:

# %%
changes = ["add_optional_field", "add_required_field", "remove_field", "rename_field"]
for change in changes:
    v1, v2 = sk.scenarios.schema_change(change)
    print(f"{change:19s} v2 fields:", ", ".join(f.name + ("" if f.optional else "*") for f in v2.fields))
print("v1 fields:", ", ".join(f.name + "*" for f in v1.fields), "  (* = required, no default)")

# %% [markdown]
# ## 2. No registry: the producer ships a rename
#
# A third of the way through the run the payment team starts writing version 2, where `amount` is now called
# `amount_cents`. The `billing` consumer is upgraded a third of the run later; until then it still reads with
# version 1, which needs `amount`.

# %%
renamed = sk.scenarios.schema_drift("rename_field", registry=None, seed=0)
renamed.report

# %%
failed = renamed.checks["decode_failures"].examples[0]
t = renamed.trace
t[(t.msg_id == failed) & t.event.isin(["send", "process", "decode_failed", "dead_lettered"])]

# %%
sk.plots.handled_over_time(renamed)
plt.show()

# %% [markdown]
# Between the two deploys every payment lands in the dead-letter topic (the dashed line climbs, the solid one is
# flat). Nothing is lost, thanks to the DLQ, but each of those payments now needs a replay.
#
# Not every change hurts an old reader. A reader skips fields it does not know and needs only the fields it
# requires:

# %%
for change in changes:
    r = sk.scenarios.schema_drift(change, registry=None, seed=0)
    print(f"{change:19s}: {r.report.decode_failures:3d} decode failures, {r.report.dead_lettered:3d} dead-lettered")

# %% [markdown]
# ## 3. A schema registry refuses what would break
#
# With a registry, version 2 must be registered before anyone uses it, and the registry checks it against version 1
# under the subject's compatibility mode. A refusal leaves everybody on version 1, so nothing breaks; the trace
# says why.

# %%
guarded = sk.scenarios.schema_drift("rename_field", registry="FULL", seed=0)
print(guarded.report)
guarded.trace.query("event in ['schema_registered', 'schema_rejected']")[["time", "event", "detail"]]

# %% [markdown]
# ## 4. Which mode refuses what, and who must upgrade first
#
# Confluent's modes answer the question "who can read whose data?":
#
# - `BACKWARD` (Confluent's default): the **new** schema must read data written with the old one. That protects
#   readers who upgrade **first**. It allows removing a field and adding an optional one.
# - `FORWARD`: the **old** schema must read data written with the new one. That protects readers who upgrade
#   **last**, so the producer may go first. It allows adding a field and removing an optional one.
# - `FULL`: both, so either side can go first. Only optional fields may come and go.
#
# In each run below the teams upgrade in the order the mode was made for (consumers first under `BACKWARD`,
# producer first otherwise).

# %%
grid = sk.sweep("schema_drift", {"change": changes, "registry": [None, "BACKWARD", "FORWARD", "FULL"]}, seeds=1)
sk.plots.schema_outcomes(grid)
plt.show()

# %% [markdown]
# A rename is always refused: to a reader it is a removed field plus a new one, and one of the two breaks somebody.
# The usual way around it is to add the new field as optional first, move everyone over, and retire the old one
# later.
#
# ## 5. The trap: a mode that does not match the upgrade order
#
# `BACKWARD` is the default, and it happily accepts the removal of `currency`, because a reader on version 2 can
# read old records. But if the *producer* upgrades first, as in section 2, the readers still on version 1 meet records
# without `currency`:

# %%
trap = sk.scenarios.schema_drift("remove_field", registry="BACKWARD", upgrade_order="producer_first", seed=0)
print(f"registry refused: {trap.report.rejected_registrations}, decode failures: {trap.report.decode_failures}")

# %% [markdown]
# The registry did its job. The mode answered a different question from the one the teams needed answered.
#
# ## 6. A contract check in CI
#
# A registry catches the change when it is registered, often at deploy time. A contract check catches it in the
# producer's build: each consumer publishes the schema it reads with, and the producer's CI checks that every one
# of them can read what the new version writes.

# %%
sk.scenarios.schema_contract_check()

# %% [markdown]
# The two failing rows are exactly the changes that broke `billing` in section 2.
#
# ## 7. Over several seeds

# %%
fig, axes = plt.subplots(1, 2, figsize=(13, 4.5))
plain = sk.compare("schema_drift", changes, seeds=4, registry=None).rename(columns={"design": "change"})
forward = sk.compare("schema_drift", changes, seeds=4, registry="FORWARD").rename(columns={"design": "change"})
sk.plots.outcome_bars(plain, "decode_failures", by="change", ax=axes[0], ylabel="records per run",
                      title="No registry: removing or renaming a field breaks billing")
sk.plots.outcome_bars(forward, ["decode_failures", "rejected_registrations"], by="change", ax=axes[1],
                      ylabel="records, or refused versions, per run",
                      title="FORWARD: the breaking changes are refused, nothing fails")
for ax in axes:
    ax.tick_params(axis="x", labelrotation=20)
fig.tight_layout()
plt.show()


# %% [markdown]
# ## 8. Try it
#
# Choose a change, a registry mode, who upgrades first and how long the second team takes. The plot shows records
# handled and records dead-lettered over time.

# %%
def explore(change="remove_field", registry="none", upgrade_order="producer_first", upgrade_lag=500, seed=0):
    r = sk.scenarios.schema_drift(change, registry=None if registry == "none" else registry,
                                  upgrade_order=upgrade_order, upgrade_lag=upgrade_lag, seed=seed)
    sk.plots.handled_over_time(r)
    plt.show()
    print(f"refused: {r.report.rejected_registrations}, decode failures: {r.report.decode_failures}, "
          f"dead-lettered: {r.report.dead_lettered}, lost: {r.report.lost}")


widgets.interact(explore, change=changes, registry=["none", "BACKWARD", "FORWARD", "FULL"],
                 upgrade_order=["producer_first", "consumers_first"], upgrade_lag=(0, 1000, 50), seed=(0, 20));

# %% [markdown]
# ## What to remember
#
# - Producer and consumer share the event's shape even when they share nothing else. A change that removes or
#   renames what a reader requires breaks that reader; adding fields it does not know about does not.
# - A schema registry refuses incompatible versions before they are used. Pick the mode by who upgrades first:
#   `BACKWARD` if consumers go first, `FORWARD` if producers go first, `FULL` if you cannot promise either.
# - A rename is never compatible. Add the new field as optional, migrate, then retire the old one.
# - Contract checks in the producer's CI catch the break before it ships. A dead-letter topic catches what still
#   slips through, so that the records can be replayed once the reader is fixed.
#
# ## Exercises
#
# 1. Rename `amount` to `amount_cents` without ever being refused under `FULL`. Start from
#    `v1, _ = sk.scenarios.schema_change("rename_field")`, make a `sk.SchemaRegistry("FULL")`, register `v1` under
#    `"payments-value"`, then try a sequence of small steps (`v1.add_field(sk.Field("amount_cents", "long", 0))`,
#    ...). Which step needs `amount` to get a default first?

# %%

# %% [markdown]
# 2. Without a registry, how do the decode failures of `"remove_field"` grow with `upgrade_lag`? Use `sk.sweep` over
#    a few lags and plot the result. What does that say about "we will upgrade the consumers later"?

# %%
