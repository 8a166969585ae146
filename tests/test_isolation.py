"""The database's isolation levels: read_committed lets two overlapping check-then-write transactions both
commit; serializable refuses the second committer with TransactionConflict and writes nothing of it."""

import pytest

import simkit as sk
from simkit.database import ISOLATION_LEVELS


def make(isolation=None):
    w = sk.World(seed=1)
    db = sk.Database(w, commit_latency=5) if isolation is None else sk.Database(w, commit_latency=5,
                                                                                isolation=isolation)
    db.create_table("welcome.emails")
    db.create_table("welcome.stats")
    return w, db


def welcome(w, db, user, start, outcome):
    """Check-then-write in one transaction, started at ``start``; ``outcome`` gets 'ok' or the error."""

    def steps():
        yield w.env.timeout(start)
        tx = db.transaction(msg_id=start)
        if tx.get("welcome.emails", user) is None:
            tx.put("welcome.emails", user, "hi")
            tx.put("welcome.stats", "signups", tx.get("welcome.stats", "signups", 0) + 1)
        try:
            yield from tx.commit()
            outcome.append("ok")
        except sk.TransactionConflict as exc:
            outcome.append(exc)

    w.env.process(steps())


def test_read_committed_is_the_default_and_lets_both_overlapping_writers_commit():
    w, db = make()
    outcome = []
    welcome(w, db, "u1", 0, outcome)
    welcome(w, db, "u1", 1, outcome)  # reads at t=1, before the first commit lands at t=5
    w.run()
    assert db.isolation == "read_committed"
    assert outcome == ["ok", "ok"]
    assert db.tables["welcome.stats"]["signups"] == 1  # last writer wins: one increment lost, two email writes
    assert db.commits == 2 and db.conflicts == 0


def test_serializable_first_committer_wins_and_the_loser_writes_nothing():
    w, db = make("serializable")
    outcome = []
    welcome(w, db, "u1", 0, outcome)
    welcome(w, db, "u1", 1, outcome)
    w.run()
    assert outcome[0] == "ok" and isinstance(outcome[1], sk.TransactionConflict)
    assert isinstance(outcome[1], sk.SimkitError) and outcome[1].definite
    assert "welcome.emails['u1']" in str(outcome[1]) and "first committer wins" in str(outcome[1])
    assert db.commits == 1 and db.conflicts == 1
    assert db.tables["welcome.stats"] == {"signups": 1}
    t = w.trace.to_frame()
    conflict = t[t.event == "db_conflict"]
    assert conflict.time.tolist() == [6.0] and conflict.msg_id.tolist() == [1]


def test_serializable_retry_after_a_conflict_reads_the_winner_and_does_nothing():
    w, db = make("serializable")
    outcome = []
    welcome(w, db, "u1", 0, outcome)
    welcome(w, db, "u1", 1, outcome)
    welcome(w, db, "u1", 20, outcome)  # the loser's redelivery, after both commits
    w.run()
    assert outcome[2] == "ok"
    assert db.tables["welcome.stats"] == {"signups": 1} and db.commits == 2


def test_serializable_transactions_that_do_not_overlap_or_touch_other_keys_commit():
    w, db = make("serializable")
    outcome = []
    welcome(w, db, "u1", 0, outcome)
    welcome(w, db, "u1", 6, outcome)  # starts after the first landed: sees the row, writes nothing
    w.run()
    assert outcome == ["ok", "ok"]

    w, db = make("serializable")
    outcome = []

    def blind(user, start):
        def steps():
            yield w.env.timeout(start)
            tx = db.transaction()
            tx.put("welcome.emails", user, "hi")
            yield from tx.commit()
            outcome.append(user)
        w.env.process(steps())

    blind("u1", 0)
    blind("u2", 1)  # overlapping, disjoint keys: both commit
    w.run()
    assert outcome == ["u1", "u2"] and set(db.tables["welcome.emails"]) == {"u1", "u2"}


def test_serializable_a_blind_write_to_a_key_committed_since_it_was_written_conflicts():
    w, db = make("serializable")
    got = []

    def writer(start, value):
        def steps():
            yield w.env.timeout(start)
            tx = db.transaction()
            tx.put("welcome.emails", "u1", value)
            try:
                yield from tx.commit()
                got.append(value)
            except sk.TransactionConflict:
                got.append("conflict")
        w.env.process(steps())

    writer(0, "first")
    writer(1, "second")
    w.run()
    assert got == ["first", "conflict"] and db.tables["welcome.emails"] == {"u1": "first"}


def test_a_read_of_an_absent_key_is_checked_too():
    w, db = make("serializable")
    got = []

    def reader():
        tx = db.transaction()
        assert tx.get("welcome.emails", "u1") is None
        yield w.env.timeout(10)
        try:
            yield from tx.commit()  # read-only, but what it read is stale
            got.append("ok")
        except sk.TransactionConflict:
            got.append("conflict")

    welcome(w, db, "u1", 1, [])
    w.env.process(reader())
    w.run()
    assert got == ["conflict"]


@pytest.mark.parametrize("bad", ["SERIALIZABLE", "snapshot", None, 1, True])
def test_a_bad_isolation_names_the_parameter_and_the_levels(bad):
    with pytest.raises(sk.ConfigError) as err:
        sk.Database(sk.World(seed=1), isolation=bad)
    assert err.value.param == "isolation"
    for level in ISOLATION_LEVELS:
        assert repr(level) in str(err.value)
