"""Exercise 01's bank: answers a learner might write, with the points each must get per criterion.

Points are (correct without crashes 2, no lost user 3, no duplicate email 3, counter right 2, concurrent
delivery 2), and ``why`` is a phrase the feedback of every criterion that lost must contain.
"""

FULL = (2, 3, 3, 2, 2)

REFERENCE = '''
def handle(record, ctx, db):
    tx = db.transaction()
    if tx.get("welcome.emails", record.key) is None:
        tx.put("welcome.emails", record.key, "Welcome aboard!")
        tx.put("welcome.stats", "signups", tx.get("welcome.stats", "signups", 0) + 1)
    yield from tx.commit()
'''

STARTER_FAULTS = ((2, 3, 0, 0, 2), "more than one email")

BANK = {
    # -- wrong answers ---------------------------------------------------------------------
    "two_transaction_counter": ('''
def handle(record, ctx, db):
    tx = db.transaction()
    if tx.get("welcome.emails", record.key) is not None:
        return
    tx.put("welcome.emails", record.key, "Welcome aboard!")
    yield from tx.commit()
    tx = db.transaction()
    tx.put("welcome.stats", "signups", tx.get("welcome.stats", "signups", 0) + 1)
    yield from tx.commit()
''', (2, 3, 3, 0, 2), "one short"),
    "seen_marker_first": ('''
def handle(record, ctx, db):
    tx = db.transaction()
    if tx.get("welcome.seen", record.key):
        return
    tx.put("welcome.seen", record.key, True)
    yield from tx.commit()
    tx = db.transaction()
    tx.put("welcome.emails", record.key, "Welcome aboard!")
    tx.put("welcome.stats", "signups", tx.get("welcome.stats", "signups", 0) + 1)
    yield from tx.commit()
''', (2, 0, 3, 0, 2), "skip"),
    "no_check_one_transaction": ('''
def handle(record, ctx, db):
    tx = db.transaction()
    tx.put("welcome.emails", record.key, "Welcome aboard!")
    tx.put("welcome.stats", "signups", tx.get("welcome.stats", "signups", 0) + 1)
    yield from tx.commit()
''', (2, 3, 0, 0, 2), "redelivery"),
    "does_nothing": ('''
def handle(record, ctx, db):
    return
    yield
''', (0, 0, 3, 0, 2), "wrong even without a crash"),
    "python_set_memory": ('''
seen = set()

def handle(record, ctx, db):
    if record.key in seen:
        return
    tx = db.transaction()
    tx.put("welcome.emails", record.key, "Welcome aboard!")
    tx.put("welcome.stats", "signups", tx.get("welcome.stats", "signups", 0) + 1)
    yield from tx.commit()
    seen.add(record.key)
''', (2, 3, 0, 0, 2), "more than one email"),
    "cheat_crash_plan_rate": ('''
def handle(record, ctx, db):
    ctx.consumer.crash_plan.rate = 0
    tx = db.transaction()
    tx.put("welcome.stats", "signups", tx.get("welcome.stats", "signups", 0) + 1)
    yield from tx.commit()
    tx = db.transaction()
    tx.put("welcome.emails", record.key, "Welcome aboard!")
    yield from tx.commit()
''', (0, 0, 0, 0, 0), "consumer"),
    "cheat_direct_table_write": ('''
def handle(record, ctx, db):
    db.table("welcome.emails")[record.key] = "Welcome aboard!"
    yield ctx.timeout(1)
''', (0, 0, 0, 0, 0), "table"),
    "cheat_patch_grader": ('''
import simkit.grading.exercises.welcome as w
w.anomalies = lambda trace, state, workload: {}

def handle(record, ctx, db):
    tx = db.transaction()
    tx.put("welcome.stats", "signups", tx.get("welcome.stats", "signups", 0) + 1)
    yield from tx.commit()
    tx = db.transaction()
    tx.put("welcome.emails", record.key, "Welcome aboard!")
    yield from tx.commit()
''', (0, 0, 0, 0, 0), "changed simkit"),
    "raises": ('''
def handle(record, ctx, db):
    raise KeyError("no such user")
    yield
''', (0, 0, 0, 0, 0), "KeyError"),
    "not_a_generator": ('''
def handle(record, ctx, db):
    tx = db.transaction()
    tx.put("welcome.emails", record.key, "hi")
''', (0, 0, 0, 0, 0), "not a generator"),
    "yields_a_number": ('''
def handle(record, ctx, db):
    yield 5
''', (0, 0, 0, 0, 0), "not a SimPy event"),
    "busy_loop_except_exception": ('''
def handle(record, ctx, db):
    while True:
        try:
            pass
        except Exception:
            pass
    yield
''', (0, 0, 0, 0, 0), "CPU time"),
    "busy_loop_except_baseexception": ('''
def handle(record, ctx, db):
    while True:
        try:
            while True:
                pass
        except BaseException:
            pass
    yield
''', (0, 0, 0, 0, 0), "CPU time"),
    "setitimer_off": ('''
import signal

def handle(record, ctx, db):
    signal.setitimer(signal.ITIMER_REAL, 0)
    while True:
        pass
    yield
''', (0, 0, 0, 0, 0), "CPU time"),
    "sleeps": ('''
import time

def handle(record, ctx, db):
    time.sleep(3600)  # real time passes, no CPU is used: only the wall-clock backstop can stop it
    yield
''', (0, 0, 0, 0, 0), "real time"),
    "sys_exit": ('''
import sys

def handle(record, ctx, db):
    sys.exit(0)
    yield
''', (0, 0, 0, 0, 0), "sys.exit"),
    "os_exit": ('''
import os

def handle(record, ctx, db):
    os._exit(3)
    yield
''', (0, 0, 0, 0, 0), "os._exit"),
    "allocates_without_bound": ('''
def handle(record, ctx, db):
    hoard = []
    while True:
        hoard.append(bytearray(100_000_000))
    yield
''', (0, 0, 0, 0, 0), "memory"),
    "syntax_error": ('''
def handle(record, ctx, db)
    yield
''', (0, 0, 0, 0, 0), "syntax error"),
    # -- cheats that reach past the tools: refused before they run (the tools are sealed, too) -----------
    "cheat_private_database": ('''
def handle(record, ctx, db):
    emails = db._db.tables["welcome.emails"]
    if record.key not in emails:
        emails[record.key] = "Welcome aboard!"
    tx = db.transaction()
    tx.put("welcome.stats", "signups", tx.get("welcome.stats", "signups", 0) + 1)
    yield from tx.commit()
''', (0, 0, 0, 0, 0), "private attribute '_db'"),
    "cheat_private_faults": ('''
def handle(record, ctx, db):
    ctx._faults.schedule.clear()
    ctx._faults.rate = 0
    tx = db.transaction()
    tx.put("welcome.stats", "signups", tx.get("welcome.stats", "signups", 0) + 1)
    yield from tx.commit()
''', (0, 0, 0, 0, 0), "private attribute '_faults'"),
    "cheat_getattr": ('''
def handle(record, ctx, db):
    getattr(ctx, "_" + "faults").rate = 0
    tx = db.transaction()
    tx.put("welcome.stats", "signups", tx.get("welcome.stats", "signups", 0) + 1)
    yield from tx.commit()
''', (0, 0, 0, 0, 0), "getattr()"),
    "cheat_closure_cells": ('''
def handle(record, ctx, db):
    real = type(db).transaction.__closure__[0].cell_contents
    tx = db.transaction()
    tx.put("welcome.stats", "signups", tx.get("welcome.stats", "signups", 0) + 1)
    yield from tx.commit()
''', (0, 0, 0, 0, 0), "'__closure__'"),
    "cheat_frames": ('''
import sys

def handle(record, ctx, db):
    consumer = sys._getframe(3).f_locals.get("consumer")
    tx = db.transaction()
    tx.put("welcome.stats", "signups", tx.get("welcome.stats", "signups", 0) + 1)
    yield from tx.commit()
''', (0, 0, 0, 0, 0), "the attribute 'f_locals'"),
    "cheat_event_env": ('''
def handle(record, ctx, db):
    process = ctx.timeout(0).env.active_process
    tx = db.transaction()
    tx.put("welcome.stats", "signups", tx.get("welcome.stats", "signups", 0) + 1)
    yield from tx.commit()
''', (0, 0, 0, 0, 0), "the attribute 'active_process'"),
    "cheat_generator_frame": ('''
def handle(record, ctx, db):
    tx = db.transaction()
    tx.put("welcome.stats", "signups", tx.get("welcome.stats", "signups", 0) + 1)
    commit = tx.commit()
    inner = commit.gi_frame.f_locals
    yield from commit
''', (0, 0, 0, 0, 0), "the attribute 'f_locals'"),
    "cheat_gc_objects": ('''
import gc

def handle(record, ctx, db):
    dbs = [o for o in gc.get_objects() if type(o).__name__ == "Database"]
    tx = db.transaction()
    tx.put("welcome.stats", "signups", tx.get("welcome.stats", "signups", 0) + 1)
    yield from tx.commit()
''', (0, 0, 0, 0, 0), "the module 'gc'"),
    "cheat_object_getattribute": ('''
def handle(record, ctx, db):
    real = object.__getattribute__(db, "_db")
    tx = db.transaction()
    tx.put("welcome.stats", "signups", tx.get("welcome.stats", "signups", 0) + 1)
    yield from tx.commit()
''', (0, 0, 0, 0, 0), "'__getattribute__'"),
    # right with one member, wrong with two: a zombie passes the check, stalls, and writes after the new owner
    "read_only_check_in_its_own_transaction": ('''
def handle(record, ctx, db):
    check = db.transaction()
    seen = check.get("welcome.emails", record.key) is not None
    yield from check.commit()
    if seen:
        return
    tx = db.transaction()
    tx.put("welcome.emails", record.key, "Welcome aboard!")
    tx.put("welcome.stats", "signups", tx.get("welcome.stats", "signups", 0) + 1)
    yield from tx.commit()
''', (2, 3, 3, 2, 0), "different transactions"),
    # a dedupe key that is not the user: the event type is the same for every user, the msg_id is not the row's key
    "dedupe_by_event_type": ('''
def handle(record, ctx, db):
    tx = db.transaction()
    if tx.get("welcome.processed", record.value):
        return
    tx.put("welcome.processed", record.value, True)
    tx.put("welcome.emails", record.key, "Welcome aboard!")
    tx.put("welcome.stats", "signups", tx.get("welcome.stats", "signups", 0) + 1)
    yield from tx.commit()
''', (0, 0, 3, 0, 2), "5 of 6 users got no email row"),
    "checks_the_email_row_by_msg_id_writes_it_by_user": ('''
def handle(record, ctx, db):
    tx = db.transaction()
    if tx.get("welcome.emails", record.msg_id) is None:
        tx.put("welcome.emails", record.key, "Welcome aboard!")
        tx.put("welcome.stats", "signups", tx.get("welcome.stats", "signups", 0) + 1)
    yield from tx.commit()
''', (2, 3, 0, 0, 2), "the redelivery"),
    "email_row_keyed_by_msg_id": ('''
def handle(record, ctx, db):
    tx = db.transaction()
    if tx.get("welcome.emails", record.msg_id) is None:
        tx.put("welcome.emails", record.msg_id, "Welcome aboard!")
        tx.put("welcome.stats", "signups", tx.get("welcome.stats", "signups", 0) + 1)
    yield from tx.commit()
''', (0, 0, 3, 2, 2), "key each user's row by the user id"),
    "seen_marker_in_the_email_table": ('''
def handle(record, ctx, db):
    tx = db.transaction()
    if tx.get("welcome.emails", record.msg_id) is None:
        tx.put("welcome.emails", record.msg_id, "seen")
        tx.put("welcome.emails", record.key, "Welcome aboard!")
        tx.put("welcome.stats", "signups", tx.get("welcome.stats", "signups", 0) + 1)
    yield from tx.commit()
''', (0, 3, 3, 2, 2), "not user ids"),
    "counter_outside_the_check": ('''
def handle(record, ctx, db):
    tx = db.transaction()
    if tx.get("welcome.emails", record.key) is None:
        tx.put("welcome.emails", record.key, "Welcome aboard!")
    tx.put("welcome.stats", "signups", tx.get("welcome.stats", "signups", 0) + 1)
    yield from tx.commit()
''', (2, 3, 3, 0, 2), "counted the user again"),
    "commit_without_yield_from": ('''
def handle(record, ctx, db):
    tx = db.transaction()
    if tx.get("welcome.emails", record.key) is None:
        tx.put("welcome.emails", record.key, "Welcome aboard!")
        tx.put("welcome.stats", "signups", tx.get("welcome.stats", "signups", 0) + 1)
    tx.commit()
    yield ctx.timeout(0)
''', (0, 0, 3, 0, 2), "6 of 6 users got no email row"),
    # -- correct but different -------------------------------------------------------------
    "generator_helper": ('''
def _welcome(record, db):
    tx = db.transaction()
    if tx.get("welcome.emails", record.key) is None:
        tx.put("welcome.emails", record.key, "Welcome aboard!")
        tx.put("welcome.stats", "signups", tx.get("welcome.stats", "signups", 0) + 1)
    yield from tx.commit()

def handle(record, ctx, db):
    return _welcome(record, db)
''', FULL, ""),
    "functools_wraps": ('''
import functools

def logged(fn):
    @functools.wraps(fn)
    def inner(*args):
        return (yield from fn(*args))
    return inner

@logged
def handle(record, ctx, db):
    tx = db.transaction()
    if tx.get("welcome.emails", record.key) is None:
        tx.put("welcome.emails", record.key, "Welcome aboard!")
        tx.put("welcome.stats", "signups", tx.get("welcome.stats", "signups", 0) + 1)
    yield from tx.commit()
''', FULL, ""),
    "own_dedupe_table": ('''
def handle(record, ctx, db):
    tx = db.transaction()
    if tx.get("welcome.processed", record.msg_id):
        return
    tx.put("welcome.processed", record.msg_id, True)
    tx.put("welcome.emails", record.key, "Welcome aboard!")
    tx.put("welcome.stats", "signups", tx.get("welcome.stats", "signups", 0) + 1)
    yield from tx.commit()
''', FULL, ""),
    "three_hundred_crash_points": ('''
def handle(record, ctx, db):
    tx = db.transaction()
    for i in range(300):
        ctx.crash_point(f"p{i}")
    if tx.get("welcome.emails", record.key) is None:
        tx.put("welcome.emails", record.key, "Welcome aboard!")
        tx.put("welcome.stats", "signups", tx.get("welcome.stats", "signups", 0) + 1)
    yield from tx.commit()
''', FULL, ""),
}
