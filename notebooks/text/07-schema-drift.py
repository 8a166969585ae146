# %% [markdown]
# # 07 · Schema drift: when the producer changes the shape of its events
#
# **After this lesson you can**
#
# - tell which of four schema changes (add an optional field, add a required field, remove a field, rename a
#   field) break a consumer that still reads the old version, and which do not;
# - say which of those changes a schema registry refuses in each compatibility mode (`BACKWARD`, `FORWARD`,
#   `FULL`), and pick the mode from **who upgrades first**;
# - follow one record that failed to decode from the producer's deploy to the dead-letter topic;
# - put a contract check in the producer's build, so a breaking change fails CI instead of a consumer.
#
# **Where we are.** Lesson 06 made the second delivery of a record harmless. Delivery is not the only way events
# hurt: producer and consumers are decoupled in code and in deployment, but they still agree on the event's
# *shape*, and nothing shows that agreement until one side changes it.
#
# The story: the payment service publishes `PaymentReceived` events; the `billing` group reads them with the
# schema version it was built against. A record billing cannot decode is parked on a **dead-letter topic**
# (`payments.DLT`), a side topic for records a consumer has given up on, so its partition keeps moving and nothing
# is lost. Lesson 08 is about that topic; here it means the damage shows as *decode failures* and *dead letters*.

# %%
import matplotlib.pyplot as plt

import simkit as sk
from simkit.scenarios.schema_drift import schema_change, schema_contract_check

# %% [markdown]
# ## 1. The event and the four changes
#
# Version 1 has three required fields. Each change gives a version 2:

# %%
changes = ["add_optional_field", "add_required_field", "remove_field", "rename_field"]
for change in changes:
    v1, v2 = schema_change(change)
    print(f"{change:19s} v2 fields:", ", ".join(f.name + ("" if f.optional else "*") for f in v2.fields))
print("v1 fields:", ", ".join(f.name + "*" for f in v1.fields), "  (* = required, no default)")

# %% [markdown]
# ## 2. No registry: the producer ships first
#
# A third of the way through the run the payment team starts writing version 2. The `billing` team upgrades a
# third of the run later; until then billing still reads with version 1. A reader skips fields it does not know,
# and fills a missing field only if its own schema gives that field a default.
#
# **Predict.** Which of the four changes make billing fail to decode records while it still reads version 1?
# For those, roughly how many of the 150 payments end up on the dead-letter topic?

# %%
for change in changes:
    r = sk.scenarios.schema_drift(change, registry=None, seed=0)
    print(f"{change:19s}: {r.report.decode_failures:3d} decode failures, {r.report.dead_lettered:3d} dead-lettered, "
          f"{r.report.lost} lost")

# %% [markdown]
# Adding a field, even a required one, does not hurt an old reader: it never asks for the new field. Removing or
# renaming a field the reader requires breaks it, for every record written between the two deploys. Here is the
# rename, one dot per payment, with one record that failed to decode marked:

# %%
renamed = sk.scenarios.schema_drift("rename_field", registry=None, seed=0)
failed = renamed.checks["decode_failures"].examples[0]
fig, ax = plt.subplots(figsize=(11, 4.5))
sk.plots.decode_timeline(renamed, msg_id=failed, ax=ax)
fig.tight_layout()
plt.show()

# %% [markdown]
# The same record in the trace: written after the producer's deploy, read by billing with version 1, which needs
# `amount`, and parked at once (retrying cannot fix a record that does not fit the reader's schema).

# %%
t = renamed.trace
t[(t.msg_id == failed) & t.event.isin(["send", "process", "decode_failed", "dead_lettered"])][
    ["time", "component", "event", "detail"]]

# %% [markdown]
# ## 3. A schema registry refuses what would break
#
# With a registry, version 2 must be registered before anyone uses it, and the registry checks it against
# version 1 under the subject's *compatibility mode*. A refusal leaves everybody on version 1, so nothing breaks;
# the trace says why.

# %%
guarded = sk.scenarios.schema_drift("rename_field", registry="FULL", seed=0)
print(f"refused: {guarded.report.rejected_registrations}, decode failures: {guarded.report.decode_failures}")
guarded.trace.query("event in ['schema_registered', 'schema_rejected']")[["time", "event", "detail"]]

# %% [markdown]
# ## 4. Which mode refuses what, and who must upgrade first
#
# Confluent's modes answer the question "who can read whose data?":
#
# - `BACKWARD` (Confluent's default): the **new** schema must read data written with the old one. That protects
#   readers who upgrade **first**.
# - `FORWARD`: the **old** schema must read data written with the new one. That protects readers who upgrade
#   **last**, so the producer may go first.
# - `FULL`: both, so either side can go first.
#
# In each run below the teams upgrade in the order the mode was made for (consumers first under `BACKWARD`,
# producer first otherwise).
#
# **Predict.** Fill in the grid before you run it: for each of the four changes, does `BACKWARD` refuse it? And
# `FORWARD`? Which changes does `FULL` still let through?

# %%
grid = sk.sweep("schema_drift", {"design": changes, "registry": [None, "BACKWARD", "FORWARD", "FULL"]}, seeds=1)
fig, ax = plt.subplots(figsize=(9, 4.5))
sk.plots.schema_outcomes(grid, ax=ax)
fig.tight_layout()
plt.show()
for mode in ["BACKWARD", "FORWARD", "FULL"]:
    runs = grid[grid.registry == mode]
    print(f"{mode:>8} refuses: {', '.join(runs[runs.rejected_registrations > 0].design)}; "
          f"lets through: {', '.join(runs[runs.rejected_registrations == 0].design)}")

# %% [markdown]
# `BACKWARD` allows removing a field (a new reader can read old data and ignore the extra field) and refuses adding
# a required one (a new reader would find it missing in old data). `FORWARD` is the mirror image. A plain rename
# is refused in every mode: to a reader it is a removed field plus a new one, and one of the two breaks somebody.
# (Avro's aliases let a new reader accept the old name, which makes a rename backward compatible for readers that
# honour them; the registry here, like most contract checks, compares plain field names.) The
# usual way around it is to add the new field as optional first, move everyone over, and retire the old one later.
#
# ## 5. The trap: a mode that does not match the upgrade order
#
# **Predict.** `BACKWARD` accepts the removal of `currency`. Suppose the payment team still ships first, as in
# section 2, and billing upgrades a third of the run later. How many decode failures now?

# %%
trap = sk.scenarios.schema_drift("remove_field", registry="BACKWARD", upgrade_order="producer_first", seed=0)
print(f"BACKWARD, producer first: {trap.report.rejected_registrations} refused, {trap.report.decode_failures} "
      f"decode failures, {trap.report.dead_lettered} dead-lettered")
fig, ax = plt.subplots(figsize=(11, 4.5))
sk.plots.decode_timeline(trap, ax=ax)
fig.tight_layout()
plt.show()

# %% [markdown]
# The registry did its job: version 2 can read version 1's data. But the readers that met version 2's records were
# still on version 1, and that is the question `FORWARD` answers. The mode must match the order in which the teams
# really deploy.
#
# ## 6. A contract check in CI
#
# A registry catches the change when it is registered, often at deploy time. A contract check catches it in the
# producer's build: each consumer publishes the schema it reads with, and the producer's CI checks that every one
# of them can read what the new version writes.

# %%
schema_contract_check()

# %% [markdown]
# The two failing rows are exactly the changes that broke `billing` in section 2.
#
# ## 7. Over several seeds
#
# Arrival times change with the seed, so the number of payments written between the two deploys does too. Three
# set-ups, each with the producer shipping first: no registry, `BACKWARD` (the mismatch of section 5) and
# `FORWARD` (the mode made for that order). Bars are the mean over 6 seeds, whiskers the lowest and highest run.

# %%
setups = {"no registry": None, "BACKWARD, producer first": "BACKWARD", "FORWARD, producer first": "FORWARD"}
fig, axes = plt.subplots(1, 3, figsize=(15, 5.2), sharey=True)
for ax, (label, mode) in zip(axes, setups.items()):
    df = sk.compare("schema_drift", changes, seeds=6, registry=mode, upgrade_order="producer_first")
    sk.plots.decode_failure_bars(df, label, ax=ax, ylabel="")
axes[0].set_ylabel("records that failed to decode, per run")
fig.tight_layout()
plt.show()


# %% [markdown]
# ## 8. Explore
#
# Choose a change, a registry mode, who upgrades first, how long the second team takes (ms) and a seed. The plot
# shows every payment, decoded or not, against the deploys. The payments arrive over about 1.5 s and the first
# team deploys after 0.5 s, so the slider stops at 900 ms: a later upgrade would come after the last payment.

# %%
def explore(design="remove_field", registry="none", upgrade_order="producer_first", upgrade_lag=500, seed=1):
    r = sk.scenarios.schema_drift(design, registry=None if registry == "none" else registry,
                                  upgrade_order=upgrade_order, upgrade_lag=upgrade_lag, seed=seed)
    fig, ax = plt.subplots(figsize=(10, 4.2))
    sk.plots.decode_timeline(r, ax=ax)
    fig.tight_layout()
    plt.show()
    print(f"refused: {r.report.rejected_registrations}, decode failures: {r.report.decode_failures}, "
          f"dead-lettered: {r.report.dead_lettered}, lost: {r.report.lost}")


sk.interact(explore, design=changes, registry=["none", "BACKWARD", "FORWARD", "FULL"],
            upgrade_order=["producer_first", "consumers_first"], upgrade_lag=(0, 900, 50), seed=(0, 20));

# %% [markdown]
# ## Try it yourself
#
# 1. Rename `amount` to `amount_cents` without ever being refused under `FULL`. Start from
#    `v1, _ = schema_change("rename_field")`, make a `sk.SchemaRegistry("FULL")`, register `v1` under
#    `"payments-value"`, then try a sequence of small steps (`v1.add_field(sk.Field("amount_cents", "long", 0))`,
#    ...). Which step needs `amount` to get a default first?

# %%

# %% [markdown]
# 2. Without a registry, how do the decode failures of `"remove_field"` grow with `upgrade_lag`? Use `sk.sweep` over
#    a few lags and plot the result. What does that say about "we will upgrade the consumers later"?

# %%

# %% [markdown]
# ## Summary
#
# - Producer and consumer share the event's shape even when they share nothing else. A change that removes or
#   renames what a reader requires breaks that reader for every record written until it upgrades; adding fields it
#   does not know about does not.
# - A schema registry refuses incompatible versions before they are used. Pick the mode by who upgrades first:
#   `BACKWARD` if consumers go first, `FORWARD` if producers go first, `FULL` if you cannot promise either. A mode
#   that does not match the real order lets a breaking change through.
# - A plain rename is compatible in no mode (aliases help only readers that honour them). Add the new field as
#   optional, migrate, then retire the old one.
# - Contract checks in the producer's CI catch the break before it ships. A dead-letter topic catches what still
#   slips through, so the records can be replayed once the reader is fixed (lesson 08).
#
# ## Questions to discuss
#
# 1. Which of your events are read by a team that deploys on a different schedule from the producer? Who upgrades
#    first today, and does your registry's mode (or your habit, if there is no registry) match that order?
# 2. A rename costs three deploys (add, migrate, retire). Who in your organisation would track the last step, and
#    what happens if nobody does?
# 3. A contract check needs every consumer to publish the schema it reads with. Would your consumer teams do that,
#    and who fixes the build when it fails: the producer or the consumer?
# 4. When a record fails to decode in production, who finds out, and how do the parked records get processed once
#    the reader is fixed?
