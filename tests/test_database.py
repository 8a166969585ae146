import pytest

import simkit as sk


def make():
    w = sk.World(seed=1)
    db = sk.Database(w, commit_latency=5, read_latency=1)
    db.create_table("users.users")
    db.create_table("billing.invoices")
    return w, db


def test_writes_are_invisible_until_commit_and_land_together():
    w, db = make()
    seen = []

    def writer():
        tx = db.transaction(msg_id="m1")
        tx.put("users.users", 1, {"email": "a@x"})
        tx.put("users.users", 2, {"email": "b@x"})
        assert tx.get("users.users", 1) == {"email": "a@x"}  # reads its own writes
        seen.append(dict(db.table("users.users")))
        yield from tx.commit()
        seen.append(dict(db.table("users.users")))

    w.env.process(writer())
    w.run()
    assert seen[0] == {} and len(seen[1]) == 2
    t = w.trace.to_frame()
    assert t[t.event == "db_commit"].time.tolist() == [5.0]


def test_a_crash_before_commit_leaves_nothing():
    w, db = make()

    def writer():
        tx = db.transaction()
        tx.put("users.users", 1, "x")
        yield w.env.timeout(1)
        raise sk.Crash("svc", "before_commit")

    def supervisor():
        try:
            yield from writer()
        except sk.Crash:
            pass  # the process died; its transaction is never committed

    w.env.process(supervisor())
    w.run()
    assert db.table("users.users") == {}


def test_a_down_database_refuses_commits():
    w, db = make()
    db.outage(0, 100)
    errors = []

    def writer():
        tx = db.transaction()
        tx.put("users.users", 1, "x")
        try:
            yield from tx.commit()
        except sk.DatabaseUnavailable as err:
            errors.append(err)

    w.env.process(writer())
    w.run()
    assert len(errors) == 1 and errors[0].definite and db.table("users.users") == {}


def test_a_boundary_owns_its_schema():
    _, db = make()
    tx = db.transaction(owner="billing")
    tx.put("billing.invoices", 1, "ok")
    with pytest.raises(sk.BoundaryViolation, match="billing"):
        tx.put("users.users", 1, "not yours")


def test_unknown_table_lists_tables():
    _, db = make()
    with pytest.raises(sk.ConfigError, match="users.users"):
        db.table("user")
