# %% [markdown]
# # 14 · Build your own: wire a system from the parts, then add a reader nobody planned for
#
# **After this lesson you can**
#
# - wire a small event-driven system yourself from simkit's public parts: `sk.World`, `sk.Broker`,
#   `sk.Producer`, `sk.Consumer` with a handler you write, and `sk.Database`;
# - check what happened with `sk.checks` on the trace, exactly as every scenario in this kit does;
# - explain why a crashed consumer can stall its partitions until the group gives up on it (`session_timeout`);
# - show the decoupling that events buy: a new consumer group added later, with no change to the producer,
#   reads the whole history and catches up, or only what comes next, depending on one setting.
#
# **Where we are.** Every earlier lesson ran a ready-made scenario. A scenario is nothing more than the
# parts below, wired together and checked. Here you do the wiring, so you can model a system of your own after
# the workshop.
#
# **The story.** A shop publishes an `OrderPlaced` event for each order, keyed by the customer. A shipping
# service prints a label for each order and stores it in its own database. Later, an analytics team wants the
# revenue of every order, including the ones placed before they existed.

# %%
import matplotlib.pyplot as plt

import simkit as sk

# %% [markdown]
# ## 1. The parts, wired by hand
#
# The function below builds one world per call: a broker with a three-partition `orders` topic, the shop's
# producer, the shipping consumer and its database, and the analytics consumer, which joins the group
# `analytics` at `joins_at` ms. Read it top to bottom: build, wire, run, check. Three settings matter for
# this lesson:
#
# - `commit="after_processing"`: each consumer commits an offset only once its handler is done (lesson 04);
# - `session_timeout=1000`: a member that stops sending heartbeats is removed from its group after 1 s
#   (Kafka's `session.timeout.ms`; its default is 45 s);
# - `auto_offset_reset`: where a group with **no committed offset yet** starts reading, at the `"earliest"`
#   record still in the log or at the `"latest"`, that is, only what arrives from now on.

# %%
def shop(reset="earliest", *, seed=1, orders=300, joins_at=3000.0, crash_rate=0.0, session_timeout=1000,
         run_for=30_000):
    world = sk.World(seed)
    broker = sk.Broker(world)
    broker.create_topic("orders", partitions=3)
    producer = sk.Producer(world, broker, "shop", latency=sk.uniform(1, 3))
    db = sk.Database(world, "shipping-db", commit_latency=sk.uniform(1, 3))
    db.create_table("shipping.labels")

    def print_label(record, ctx):  # the shipping service's handler: one label per order, in one transaction
        tx = db.transaction(msg_id=record.msg_id)
        tx.put("shipping.labels", record.msg_id, record.key)
        yield from tx.commit()

    def add_revenue(record, ctx):  # the analytics handler, added later
        ctx.record("side_effect", record, detail=f"revenue +{record.value['amount']}")

    sk.Consumer(world, broker, "shipping", "orders", print_label, group="shipping", commit="after_processing",
                processing_time=sk.exponential(2), auto_offset_reset="earliest", crash_rate=crash_rate,
                session_timeout=session_timeout, restart_delay=300)
    sk.Consumer(world, broker, "analytics", "orders", add_revenue, group="analytics", commit="after_processing",
                processing_time=sk.exponential(0.5), auto_offset_reset=reset, start=joins_at)

    def customers():  # the shop: an order every 20 ms on average, from 40 customers
        rng = world.rng("arrivals")
        for n in range(orders):
            yield world.env.timeout(rng.expovariate(1 / 20))
            producer.send("orders", {"amount": 10 + rng.randrange(90)}, key=f"customer-{rng.randrange(40)}",
                          msg_id=f"order-{n}")

    world.env.process(customers())
    world.run(until=run_for)

    trace = world.trace.to_frame()
    sends = trace.event == "send"
    shipping, analytics = trace[sends | (trace.component == "shipping")], trace[sends | (trace.component == "analytics")]
    report = sk.Report(
        produced=int(sends.sum()),
        unshipped=sk.checks.lost(shipping).count,  # never processed before the run ended
        duplicates=sk.checks.duplicates(shipping).count,
        out_of_order=sk.checks.out_of_order(shipping).count,
        crashes=int(((trace.component == "shipping") & (trace.event == "crash")).sum()),
        analytics_missed=sk.checks.lost(analytics).count,
    )
    return sk.RunResult.from_world(world, "shop", report, params=dict(reset=reset, joins_at=joins_at))


calm = shop()
calm.report

# %% [markdown]
# With nothing going wrong, every order was shipped once, in order per customer, and analytics, which joined at
# 3 s, still saw every order: it started at the earliest record in the log.
#
# ## 2. Crash the shipping service
#
# **Predict.** Now the shipping consumer crashes on 5 % of the records it handles and restarts 300 ms later.
# It commits after the work. Does the shop lose orders, ship some twice, or both?

# %%
crashy = shop(crash_rate=0.05)
crashy.report

# %% [markdown]
# Compare with your guess: the report's `unshipped` (orders never processed by the end of the run) and
# `duplicates`, and how many crashes struck. The timeline below circles the orders shipped twice.

# %%
dups = sk.checks.duplicates(crashy.trace[crashy.trace.component == "shipping"])
sk.plots.timeline(crashy, highlight=dups.examples, components=["shop", "broker", "shipping", "shipping-db"],
                  title=f"{crashy.report.crashes} crashes: {dups.count} orders shipped twice (red), "
                        f"{crashy.report.unshipped} never shipped")
plt.show()

# %% [markdown]
# Committing after the work never loses an order; each crash between the label and the commit hands the same
# order over again, which is why lesson 06's idempotent handler matters.
#
# **Predict.** Kafka's default session timeout is 45 s. Run the same crashes with it. What happens to the
# orders of the crashed member's partitions during this 30 s run?

# %%
stalled = shop(crash_rate=0.05, session_timeout=45_000)
stalled.report

# %% [markdown]
# A restarted consumer joins as a new member, and the group rebalances only once it has heard the last of the
# old one: until the session timeout expires, the old member's partitions have no reader. One early crash is
# enough: for the rest of these 30 s the orders pile up unshipped (`unshipped` above). A short session timeout, or static membership (Kafka's `group.instance.id`),
# is what lets a restart take over quickly.
#
# ## 3. A reader nobody planned for
#
# Analytics arrives at 3 s. Nothing in the shop or the producer changes: the new group simply subscribes.
#
# **Predict.** If analytics starts at `"latest"` instead of `"earliest"`, how many of the 300 orders will it
# never see?

# %%
late = shop("latest")
fig, axes = plt.subplots(1, 2, figsize=(12, 4), sharey=True)
sk.plots.handled_by_component(calm, ["shipping", "analytics"], ax=axes[0],
                              title=f"earliest: analytics catches up on all {calm.report.produced} orders")
sk.plots.handled_by_component(late, ["shipping", "analytics"], ax=axes[1],
                              title=f"latest: analytics never sees {late.report.analytics_missed} orders")
plt.show()

# %% [markdown]
# On the left, analytics starts at 3 s and climbs steeply: it reads the history the log kept, faster than new
# orders arrive, and then keeps pace. On the right it sees only what came after it joined. The shop did not
# change in either case: that is the decoupling events buy, as long as the log keeps enough history (its
# retention) for the readers you have not met yet.
#
# ## 4. Over many seeds
#
# `sk.compare` runs any function that takes a design first and `seed=` as a keyword, so your own system compares
# like every scenario.

# %%
df = sk.compare(shop, ["earliest", "latest"], seeds=6)
df.groupby("design")[["produced", "analytics_missed", "unshipped", "duplicates"]].agg(["mean", "min", "max"])

# %% [markdown]
# Whatever the seed, `"earliest"` misses nothing and `"latest"` misses every order placed before analytics
# joined: about 3 s worth of orders, at 50 orders a second.
#
# ## 5. Explore
#
# Move when analytics joins and where it starts. How does the number of missed orders follow the join time?

# %%
def explore(joins_at_s=3.0, reset="latest"):
    run = shop(reset, joins_at=joins_at_s * 1000)
    sk.plots.handled_by_component(
        run, ["shipping", "analytics"],
        title=f"analytics joins at {joins_at_s:.1f} s from {reset!r}: misses {run.report.analytics_missed} orders")
    plt.show()


sk.interact(explore, joins_at_s=(0.5, 5.5, 1.0), reset=["latest", "earliest"])

# %% [markdown]
# ## Summary
#
# - A scenario is a few parts wired together: a world with its seed, a broker and topic, producers, consumers
#   with handlers, databases, and then checks over the trace. You can build your own the same way.
# - Commit after processing never skips a record; a crash between the work and the commit repeats it.
# - A crashed member holds its partitions until the group's session timeout expires.
# - A new consumer group needs no change to the producer. With `auto_offset_reset="earliest"` it reads the
#   history the log still holds and catches up; with `"latest"` it sees only what comes next.
#
# ## Questions to discuss
#
# 1. The shop keeps its orders in the broker's log for 7 days. Analytics joins after 10 days. What does it see,
#    and what would you do about it?
# 2. Which other teams in your organisation could read an event you already publish, without asking you?
# 3. Shorter session timeouts speed up recovery from crashes. What do they cost when a consumer is merely slow
#    (a long garbage-collection pause, a slow database)?
#
# ## Try it yourself
#
# - Give analytics a crash rate of its own. Does it lose revenue, or count some orders twice?
# - Add a third group, `fraud`, that joins at 1 s from `"earliest"` with a slow handler (10 ms per order). How far
#   behind does it fall, and does it ever catch up before the run ends?
