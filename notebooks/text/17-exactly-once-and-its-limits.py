# %% [markdown]
# # 17 · Exactly-once and its limits: Kafka transactions, read_committed, and the email they cannot take back
#
# **After this lesson you can**
#
# - say what Kafka's "exactly-once" promises: in a consume-transform-produce step, the output records and the
#   input offsets are committed together, or not at all;
# - explain why a crash between the send and the offset commit writes an output record twice under
#   at-least-once, and why a transaction does not;
# - read a transaction in the trace: its records, its offsets, its commit or abort marker, and the restarted
#   process's `init_transactions` that aborts what the crashed one left open and fences its producer;
# - say why the consumers downstream must read with `isolation_level="read_committed"`, and what
#   `"read_uncommitted"` (the Java client's default) shows them;
# - name what transactions do not cover: an email, a database write, any call to a system outside Kafka.
#
# **Where we are.** Lesson 04 made a consumer commit after its work: nothing is lost, and a crash repeats some
# records. Lesson 06 made the handlers safe to repeat. Kafka also sells "exactly-once semantics" (KIP-98 and
# KIP-447): this lesson shows what that buys, and where it stops.
#
# **The setup.** A shop sends 400 orders to the `orders` topic (3 partitions), about one every 25 ms. The
# `invoicer` reads each order, works 5 ms on it, sends an invoice to the `invoices` topic, emails the customer
# through a provider (5 ms each way) and moves its offset on. A `ledger` consumer reads the invoices. On 5 % of
# the orders it handles, the invoicer crashes at one of four points, chosen at random: `before_process`,
# `after_send` (the invoice is on its way), `after_email` and `after_process` (the handler has returned). It
# comes back 200 ms later as a new process with a new producer. An invoice carries its order's id, so one
# `msg_id` follows an order through the whole trace. Two designs:
#
# - **at_least_once**: send the invoice, wait for the broker's acknowledgement, email, then commit the offset
#   (`after_processing`, lesson 04). The producer is idempotent, Kafka's default.
# - **transactional**: the producer has a `transactional_id`. Each order is one transaction:
#   `begin_transaction()`, send the invoice, email, `send_offsets_to_transaction(...)` with the order's offset,
#   `commit_transaction()`. A restarted process calls `init_transactions()` with the same id first.
#
# Nothing in the simulator decides that a record is repeated. The dice only pick when and where the invoicer
# crashes; what is then repeated follows from the design. Time is in milliseconds in the trace.

# %%
import matplotlib.pyplot as plt
import pandas as pd

import simkit as sk

DESIGNS = list(sk.scenarios.SCENARIOS["exactly_once"].designs)
FIELDS = ["produced", "crashes", "output_records", "output_read", "duplicates_in_output", "aborted_read",
          "repeated_side_effects", "aborted_transactions"]


def repeated_by_point(run):
    """How many of the invoicer's crashes struck at each of its crash points."""
    t = run.trace
    crashes = t[(t.component == "invoicer") & (t.event == "crash")]
    return crashes.detail.value_counts().rename("crashes").to_frame()


# %% [markdown]
# ## 1. At least once: a crash writes the invoice twice
#
# **Predict.** About 16 crashes strike during the run. Each one makes the invoicer handle again the order it
# was on. After how many of them does the ledger read a second invoice for the same order: none, about a
# quarter, about three quarters, all? And how many customers get a second email?

# %%
alo = sk.scenarios.exactly_once("at_least_once", seed=0)
pd.Series({f: alo.report[f] for f in FIELDS})

# %%
r = alo.report
print(f"{r.crashes} crashes; the ledger read {r.duplicates_in_output} invoices more than once "
      f"and {r.repeated_side_effects} customers were emailed more than once.")
repeated_by_point(alo)

# %% [markdown]
# A crash `before_process` repeats nothing: the invoicer had done nothing yet. A crash at any of the other three
# points comes after the invoice was written and before the offset was committed, so the order comes back and a
# second invoice is written. The idempotent producer does not help: it drops a batch the *same* producer sends
# twice, and the restarted process is a new producer sending a new record. The email is repeated only by the
# crashes that came after it (`after_email`, `after_process`).
#
# One of the repeated orders, on a timeline: the first process writes the invoice, the ledger reads it, the
# email goes out, the crash strikes before the commit; the restarted process (a new producer) does it all
# again.

# %%
def follow(run, order, title):
    t = run.trace
    mine = t[t.msg_id == order]
    producers = sorted({c for c in mine.component if str(c).startswith("invoicer-producer")})
    lanes = ["shop", "broker", "invoicer", *producers, "email", "ledger"]
    fig, ax = plt.subplots(figsize=(11, 4.5), layout="constrained")
    sk.plots.timeline(run, ax=ax, components=lanes, highlight=[order], title=title,
                      window=(mine.time.min() - 20, mine.time.max() + 20))
    plt.show()


order = alo.checks["duplicates_in_output"].examples[0]
follow(alo, order, f"at_least_once: order {order}'s invoice is written and read twice, its email sent twice")

# %% [markdown]
# ## 2. Transactions: the invoice and the offset commit together
#
# With a transaction, the invoice is written at once but stays *uncommitted*, and the order's offset waits in
# the transaction too. `commit_transaction()` writes a commit marker into the `invoices` partition and commits
# the offset in the same step. If the process crashes first, the restarted process's `init_transactions()`
# writes an abort marker instead, and the crashed producer is fenced: nothing it sends is accepted any more.
#
# **Predict.** Same seed, so the crashes strike in the same places. With the ledger reading `read_committed`,
# how many invoices does it read twice now? How many customers get a second email?

# %%
txn = sk.scenarios.exactly_once("transactional", seed=0)
runs = {"at_least_once": alo, "transactional": txn}
pd.DataFrame({d: {f: run.report[f] for f in FIELDS} for d, run in runs.items()})

# %%
r = txn.report
print(f"{r.crashes} crashes; {r.aborted_transactions} transactions aborted; the ledger read "
      f"{r.duplicates_in_output} invoices more than once, but {r.repeated_side_effects} customers were "
      f"emailed more than once.")
repeated_by_point(txn)

# %% [markdown]
# No invoice is read twice, even though the invoices topic holds more invoices than there are orders
# (`output_records`): the aborted ones are still in the log, behind abort markers. The emails are another
# story: a crash `after_email` aborts the transaction, the order comes back, and the customer is emailed again.
#
# The trace tells the transactions' story. Each commit writes a `txn_commit` marker, which takes an offset of
# its own in the `invoices` partition, and the invoicer's offset is committed by the transaction (the `commit`
# rows of `invoicer-0`, the transactional id). Around a crash:

# %%
t = txn.trace
first_abort = t[t.event == "txn_abort"].time.iloc[0]
t[t.event.isin(["crash", "restart", "txn_abort"]) & (t.time <= first_abort)][
    ["time", "component", "event", "topic", "partition", "offset", "detail"]]

# %% [markdown]
# ## 3. The reader must ask for committed records
#
# The broker does not hide aborted records: it marks them. A consumer that reads `read_committed` stops at the
# *last stable offset* (the first record of a transaction still open) and skips records whose transaction
# aborted. One that reads `read_uncommitted` gets everything, as soon as it is written. The Java client
# defaults to `read_uncommitted`; librdkafka (confluent-kafka) defaults to `read_committed`.
#
# **Predict.** The same transactional invoicer, the same crashes, and a ledger reading `read_uncommitted`. Does
# it read any invoice twice? How many invoices of aborted transactions does it read?

# %%
dirty = sk.scenarios.exactly_once("transactional", seed=0, isolation_level="read_uncommitted")
runs["transactional, ledger read_uncommitted"] = dirty
pd.DataFrame({d: {f: run.report[f] for f in FIELDS} for d, run in runs.items()})

# %%
r = dirty.report
print(f"The read_uncommitted ledger read {r.aborted_read} invoices of aborted transactions "
      f"({txn.report.aborted_transactions} transactions aborted), so it read the invoices of "
      f"{r.duplicates_in_output} orders more than once.")

# %% [markdown]
# Every aborted invoice reached it, and each of those orders was then invoiced again by a committed
# transaction. Exactly-once is a property of the whole chain: a producer that writes in transactions, *and*
# every consumer downstream reading `read_committed`. One reader on the wrong setting sees the duplicates
# again.
#
# The figure shows the three counts growing over each run, with the crashes as dotted lines.

# %%
fig, axes = plt.subplots(3, 1, figsize=(11, 10), layout="constrained")  # each run has its own length
for ax, run in zip(axes, runs.values()):
    sk.plots.repeats_over_time(run, ax=ax)
plt.show()

# %% [markdown]
# ## 4. What transactions do not cover
#
# A Kafka transaction spans writes to Kafka: records to topics, and offsets (which are records in Kafka's
# `__consumer_offsets` topic). The email provider is not Kafka. Once the invoicer has asked it to send, no
# abort calls the email back. The same holds for a row written to a database, an HTTP call to a payment
# provider, a file uploaded: anything the handler does outside Kafka happens again when the order comes back.
#
# One of the customers emailed twice under the transactional design: the first attempt's invoice is aborted
# (the ledger never sees it), its email is not.

# %%
order = txn.checks["repeated_side_effects"].examples[0]
follow(txn, order, f"transactional: order {order}'s first invoice is aborted, its first email stays sent")

# %% [markdown]
# To make the email safe, use what lesson 06 taught: an idempotency key the provider recognises (the order id),
# or a dedupe table written in the same database transaction as the side effect. Another way is to send no
# email from the handler at all: write an "email requested" record to a topic *inside* the transaction, and
# let a separate sender, itself idempotent, do the call.
#
# ## 5. Over many seeds
#
# **Predict.** Over ten seeds (ten histories of arrivals and crashes), will the transactional design with a
# `read_committed` ledger ever show a duplicate invoice? Will it ever show no repeated email?

# %%
outcomes = sk.compare("exactly_once", DESIGNS, seeds=10, progress=False)
uncommitted = sk.compare("exactly_once", ["transactional"], seeds=10, progress=False,
                         isolation_level="read_uncommitted")
uncommitted["design"] = "transactional + read_uncommitted"
both = pd.concat([outcomes, uncommitted], ignore_index=True)
both.groupby("design", sort=False)[["crashes", "duplicates_in_output", "aborted_read",
                                    "repeated_side_effects"]].agg(["mean", "min", "max"]).T

# %%
stats = both.groupby("design", sort=False)[["duplicates_in_output", "repeated_side_effects"]].agg(["min", "max"])
sk.plots.outcome_bars(
    both, ["duplicates_in_output", "aborted_read", "repeated_side_effects"], ylabel="orders per run (of 400)",
    colors={"at_least_once": sk.plots.color_for("at_least_once"),
            "transactional": sk.plots.color_for("transactional"), "transactional + read_uncommitted": "#9ecae1"},
    title=f"mean of {both.seed.nunique()} seeds (whiskers: min-max): transactions with read_committed leave "
          f"{stats.loc['transactional', ('duplicates_in_output', 'max')]} duplicate invoices,\n"
          f"and still repeat {stats.loc['transactional', ('repeated_side_effects', 'min')]} to "
          f"{stats.loc['transactional', ('repeated_side_effects', 'max')]} emails per run")
plt.tight_layout()
plt.show()

# %%
print(f"at_least_once: {stats.loc['at_least_once', ('duplicates_in_output', 'min')]} to "
      f"{stats.loc['at_least_once', ('duplicates_in_output', 'max')]} duplicate invoices per run; transactional "
      f"with read_committed: {stats.loc['transactional', ('duplicates_in_output', 'max')]} on every seed, and "
      f"{stats.loc['transactional', ('repeated_side_effects', 'min')]} to "
      f"{stats.loc['transactional', ('repeated_side_effects', 'max')]} repeated emails.")

# %% [markdown]
# The transactional design with a `read_committed` reader has no duplicate invoice on any seed. It repeats
# emails on every seed, about half as many as at-least-once: only the crashes between the email and the commit
# repeat it, where at-least-once also repeats it after a crash that follows the handler.
#
# ## 6. Try it
#
# Choose the design, the ledger's isolation level, the crash rate and the seed. Which of the three lines can
# you make disappear, and which never goes away while crashes strike?

# %%
def explore(design="transactional", isolation_level="read_committed", crash_rate=0.05, seed=3):
    run = sk.scenarios.exactly_once(design, seed=seed, isolation_level=isolation_level, crash_rate=crash_rate)
    fig, ax = plt.subplots(figsize=(11, 4), layout="constrained")
    sk.plots.repeats_over_time(run, ax=ax)
    plt.show()


sk.interact(explore, design=DESIGNS, isolation_level=["read_committed", "read_uncommitted"],
            crash_rate=(0.0, 0.2, 0.01), seed=(0, 20));

# %% [markdown]
# ## Try it yourself
#
# 1. Kill the invoicer at random instants instead of at its crash points: `crash_rate=0, kill_rate=2` (two kills
#    a second, on average). A kill strikes each step in proportion to how long it takes. Does the transactional
#    design still leave no duplicate invoice? Which steps did the kills strike (`detail` of the `crash` rows)?

# %%

# %% [markdown]
# 2. Run both isolation levels without crashes (`crash_rate=0`) and compare `latency_p50`, from the order to the
#    ledger reading its invoice. What does `read_committed` cost, and which part of the handler decides how much?

# %%

# %% [markdown]
# ## Summary
#
# - Under at-least-once, a crash after the output was written and before the offset was committed writes the
#   output again. An idempotent producer does not prevent it: the restarted process is a new producer.
# - A transactional producer commits its output records and the consumer's offsets together. A crash leaves
#   the transaction open; the restarted process's `init_transactions()` aborts it and fences the old producer.
# - Aborted records stay in the log. Only consumers reading `read_committed` skip them; they also wait for each
#   transaction to end, which costs latency.
# - Exactly-once covers writes to Kafka only. An email, a database row or a call to another service made from
#   the handler happens again after a crash. Those still need an idempotent handler (lesson 06).
#
# ## Questions to discuss
#
# - Which of your consume-transform-produce services read from Kafka and write only to Kafka? Those could use
#   transactions as they are. Which also write elsewhere?
# - What `isolation.level` do your consumers use today? Who would notice if one read aborted records?
# - A transaction per record is slow; Kafka Streams commits one every 100 ms under exactly-once. What does a
#   longer transaction cost the readers downstream, and what does a crash in the middle of one cost?
# - Your handler sends an email and writes an invoice. Where would you put the idempotency key, and who owns it?
