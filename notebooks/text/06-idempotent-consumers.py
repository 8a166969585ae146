# %% [markdown]
# # 03 · Idempotent consumers: making the second delivery harmless
#
# **Where we are.** Lesson 02 showed that a consumer which commits its offset *before* the work is done loses
# records when it crashes, and that the fix is to commit *after* the side effect. The price: should it crash once
# the work is done but before the offset is committed, it gets the same record again. That is at-least-once delivery,
# and it is the normal state of affairs, not a rare accident: every restart, rebalance or replay can repeat
# records.
#
# **What this lesson covers**
#
# - what a repeated record does to a consumer that counts sign-ups and sends welcome emails;
# - three ways to make the repeat harmless: operations that can be **repeated safely** ("natural"
#   idempotence), a **dedupe table** written in the same transaction as the effect, and a **business check**
#   ("was this user welcomed already?");
# - why the dedupe row must share the transaction, and what a **TTL** on the table trades away;
# - why an email is different (it is not in your database) and how a provider's **idempotency key** helps.
#
# Every strategy below commits offsets after processing, and the consumer crashes at random (`crash_rate`).
# Its crash points are `before_process`, `after_email` (the email went out, nothing is committed yet),
# `after_effect_tx` (the counting transaction committed) and `after_process` (all done, offset not committed).

# %%
import matplotlib.pyplot as plt
import ipywidgets as widgets

import simkit as sk

# %% [markdown]
# ## 1. The naive consumer
#
# For every `UserSignedUp` event it sends a welcome email, then adds one to a sign-up counter in its database.

# %%
naive = sk.scenarios.dedupe("none", seed=0)
naive.report

# %% [markdown]
# `duplicates` counts messages whose database effect (the counter) was applied more than once;
# `duplicate_emails` counts messages that caused more than one email. Both come from the trace. Follow one:

# %%
print(naive.checks["duplicates"])
dup_id = naive.checks["duplicates"].examples[0]
trace = naive.trace
trace[(trace.msg_id == dup_id) & trace.event.isin(["process", "email_sent", "counter_incremented", "processed"])]

# %%
sk.plots.anomaly_timeline(naive, "duplicates")
plt.show()

# %% [markdown]
# The counter went up twice for one sign-up, and the user got two emails. Nothing in the broker or the consumer
# misbehaved: this is what at-least-once means.
#
# ## 2. Natural idempotence: make the operation safe to repeat
#
# "Add one to the counter" is not safe to repeat; "record that this user signed up" is. The `natural` strategy
# writes `users[user] = "signed_up"` instead, and the number of sign-ups is the number of rows. Doing that twice
# leaves the same row.

# %%
natural = sk.scenarios.dedupe("natural", seed=0)
print("counter applied twice:", natural.report.duplicates,
      "| harmless repeated sets:", natural.report.repeated_sets,
      "| duplicate emails:", natural.report.duplicate_emails)

# %% [markdown]
# The database side is fixed for free, and it is the best fix whenever you can find such a form. But an email
# cannot be "set": sending it again sends it again.
#
# ## 3. A dedupe table, written in the same transaction
#
# When the operation cannot be rephrased, remember which messages were handled. The `dedupe_table` strategy
# looks the message id up first and skips the message if the id is there; otherwise it emails, then commits **one
# transaction** that adds to the counter *and* inserts the id.

# %%
table = sk.scenarios.dedupe("dedupe_table", seed=0)
print("counter applied twice:", table.report.duplicates, "| deliveries recognised and skipped:",
      table.report.skipped)
table.trace[table.trace.event == "duplicate_skipped"].head()

# %% [markdown]
# Why must it be one transaction? Try every crash point on one message (message 5, the sixth delivery), once with
# the id in the same transaction and once with the id written in a second transaction just after the counter:

# %%
print(f"{'crash point':16s} {'dedupe_table':>13s} {'dedupe_table_separate_tx':>25s}   (counter applied twice)")
for point in ["before_process", "after_email", "after_effect_tx", "after_process"]:
    counts = [sk.scenarios.dedupe(strategy, crash_rate=0.0, messages=20, seed=0,
                                  crash_schedule=[(5, point)]).report.duplicates
              for strategy in ["dedupe_table", "dedupe_table_separate_tx"]]
    print(f"{point:16s} {counts[0]:13d} {counts[1]:25d}")

# %% [markdown]
# Only one crash point separates them: after the counting transaction and before the id is recorded. With two
# transactions the counter is committed but the id is not, so the next delivery finds no id and counts again.
# With one transaction the two land together or not at all. (The test suite checks the same-transaction table
# against hundreds of random crash schedules; it never lets a repeat through.)

# %%
split = sk.scenarios.dedupe("dedupe_table_separate_tx", crash_rate=0.0, messages=20, seed=0,
                            crash_schedule=[(5, "after_effect_tx")])
sk.plots.anomaly_timeline(split, "duplicates")
plt.show()

# %% [markdown]
# ## 4. The email is outside every transaction
#
# Look at `duplicate_emails` for the dedupe table: a crash right after the email (`after_email`) and before the
# commit means nothing recorded that the email went out, so the next delivery sends it again. No database trick
# closes that gap, because the email provider is not in your database. What does close it is a provider that
# accepts an **idempotency key**: the consumer sends `welcome/<message id>` with each request, and the provider
# answers a repeated key without sending again.

# %%
keyed = sk.scenarios.dedupe("dedupe_table", seed=0, email_idempotency_key=True)
print("without keys:", table.report.duplicate_emails, "duplicate emails")
print("with keys:   ", keyed.report.duplicate_emails, "duplicate emails,", keyed.report.emails_ignored,
      "repeats the provider recognised")

# %% [markdown]
# ## 5. A business check, and the cost of a TTL
#
# The `business_check` strategy asks the state it already keeps: "is this user marked as welcomed?" It marks the
# user in the same transaction as the counter, so it is as safe as the dedupe table, with no extra table.
#
# A dedupe table grows with every message, so in practice old ids are deleted after a **TTL** (here a cleanup
# job runs every 500 ms). The table stays small:

# %%
sizes = {f"ttl {ttl / 1000:g} s": sk.scenarios.dedupe("dedupe_table", seed=0, ttl=ttl) for ttl in [1000, 2000]}
sizes["no ttl"] = sk.scenarios.dedupe("dedupe_table", seed=0, ttl=None)
sk.plots.dedupe_table_size(sizes)
plt.show()

# %% [markdown]
# The price: a copy that arrives *later than the TTL* is no longer recognised. Replays, a relay that re-publishes
# after a long outage, or an upstream retry can all deliver a message long after its first copy. Here an
# upstream publisher sends 10% of the messages a second time, 4 s later, with a 2 s TTL:

# %%
late = {s: sk.scenarios.dedupe(s, seed=0, ttl=2000, redeliver_after=4000)
        for s in ["dedupe_table", "business_check"]}
for s, r in late.items():
    print(f"{s:15s}: {r.report.duplicates:2d} counted twice, {r.report.skipped:2d} recognised")

# %% [markdown]
# The business state has no TTL, so it still recognises the late copies. Choose the TTL longer than the
# longest delay after which a message can come back (including replays you may run on purpose), or use a
# business check where one exists.
#
# ## 6. All strategies, several seeds

# %%
strategies = ["none", "natural", "dedupe_table", "dedupe_table_separate_tx", "business_check"]
plain = sk.compare("dedupe", strategies, seeds=5)
keys = sk.compare("dedupe", strategies, seeds=5, email_idempotency_key=True)
plain.groupby("design", sort=False)[["crashes", "redelivered", "duplicates", "duplicate_emails"]].mean()

# %%
fig, axes = plt.subplots(1, 3, figsize=(18, 4.5), sharey=True)
sk.plots.outcome_bars(plain, "duplicates", ax=axes[0], ylabel="messages per run",
                      title="Counter applied twice: only 'none' and separate transactions")
sk.plots.outcome_bars(plain, "duplicate_emails", ax=axes[1], ylabel="messages per run",
                      title="Emails sent twice: every strategy, without provider keys")
sk.plots.outcome_bars(keys, ["duplicate_emails", "emails_ignored"], ax=axes[2], ylabel="messages per run",
                      title="With idempotency keys the provider absorbs every repeat")
for ax in axes:
    ax.tick_params(axis="x", labelrotation=25)
fig.tight_layout()
plt.show()


# %% [markdown]
# ## 7. Try it
#
# Choose a strategy, a crash rate and whether the provider takes idempotency keys. The timeline shows one
# message whose side effect happened twice, if there is one.

# %%
def explore(strategy="dedupe_table_separate_tx", crash_rate=0.05, email_idempotency_key=False, seed=0):
    r = sk.scenarios.dedupe(strategy, crash_rate=crash_rate, email_idempotency_key=email_idempotency_key,
                            messages=150, seed=seed)
    check = "duplicates" if r.report.duplicates else "duplicate_emails"
    sk.plots.anomaly_timeline(r, check)
    plt.show()
    print(f"{r.report.crashes} crashes, {r.report.redelivered} messages delivered again: "
          f"{r.report.duplicates} counted twice, {r.report.duplicate_emails} emailed twice")


widgets.interact(explore, strategy=strategies, crash_rate=(0.0, 0.2, 0.01), seed=(0, 20));

# %% [markdown]
# ## What to remember
#
# - With at-least-once delivery, every consumer will see some messages twice. Design for it from the start.
# - Best: phrase the effect so that repeating it changes nothing ("set", "upsert", "mark as done").
# - Otherwise keep a dedupe table, and write the id **in the same transaction** as the effect. Two transactions
#   leave a crash window in which the effect is done and not remembered.
# - A TTL keeps the table small but forgets: copies arriving later than the TTL get through. A check against
#   business state has no such horizon.
# - Effects outside your database (emails, payments, webhooks) cannot join your transaction. Either accept an
#   occasional repeat, or use the provider's idempotency key.
#
# ## Exercises
#
# 1. With `ttl=2000` and `cleanup_interval=500`, find the shortest `redeliver_after` at which late copies start to
#    slip through the dedupe table (use `crash_rate=0`). Why is it not exactly 2000 ms?

# %%

# %% [markdown]
# 2. Run the dedupe table without a TTL (`ttl=None`) and read `dedupe_table_final_size`. Suppose your service
#    handles 2 million messages a day and you may replay up to 7 days of history: how many rows must the table
#    keep, and what TTL would you pick?

# %%
