"""Exercise 09's bank: resets and v2 handlers a learner might write, with the points each must get per criterion.

Points are (correct without crashes 2, every bad record corrected 3, balances right 3, one receipt per payment 2,
replay starts where the bug started 2), and ``why`` is a phrase the feedback of every criterion that lost must
contain.
"""

FULL = (2, 3, 3, 2, 2)

RESET_AT_DEPLOY = '''
def reset_to(log):
    deployed = next(ms for ms, version in log.deploys if version.startswith("payments-v1.1"))
    return log.offsets_for_times(deployed)
'''

SAFE_HANDLER = '''
def handle(record, ctx, db):
    tx = db.transaction()
    applied = tx.get("payments", record.msg_id)
    if applied != record.value:
        balance = tx.get("balances", record.key, 0)
        tx.put("balances", record.key, balance - (applied or 0) + record.value)
        tx.put("payments", record.msg_id, record.value)
    if tx.get("receipts", record.msg_id) is None:
        tx.put("receipts", record.msg_id, f"payment {record.msg_id} received")
    yield from tx.commit()
'''

REFERENCE = RESET_AT_DEPLOY + SAFE_HANDLER

NAIVE_HANDLER = '''
def handle(record, ctx, db):
    tx = db.transaction()
    tx.put("payments", record.msg_id, record.value)
    tx.put("balances", record.key, tx.get("balances", record.key, 0) + record.value)
    tx.put("receipts", record.msg_id, f"payment {record.msg_id} received")
    yield from tx.commit()
'''

STARTER_FAULTS = ((0, 3, 0, 0, 0), "added to its balance again, applied twice")

BANK = {
    # -- wrong answers ---------------------------------------------------------------------
    "earliest_and_not_idempotent": ('''
def reset_to(log):
    return {p: log.beginning(p) for p in log.partitions}
''' + NAIVE_HANDLER, (0, 3, 0, 0, 0), "added to its balance again, applied twice"),
    # a second email for each payment it corrects, under a key of its own (the relay emails every receipts row)
    "correction_email_under_another_key": (RESET_AT_DEPLOY + SAFE_HANDLER.replace(
        "    yield from tx.commit()",
        "    if applied is not None and applied != record.value:\n"
        "        tx.put(\"receipts\", f\"{record.msg_id}-corrected\", f\"payment {record.msg_id} corrected\")\n"
        "    yield from tx.commit()"), (0, 3, 3, 0, 2), "under keys that are no payment's msg_id"),
    "reset_to_committed": ('''
def reset_to(log):
    return {p: log.committed(p) for p in log.partitions}
''' + SAFE_HANDLER, (0, 0, 0, 2, 2), "the committed offset, where v1.1 stopped"),
    "reset_to_latest": ('''
def reset_to(log):
    return {p: log.end(p) for p in log.partitions}
''' + SAFE_HANDLER, (0, 0, 0, 2, 2), "the committed offset, where v1.1 stopped"),
    "off_by_one": ('''
def reset_to(log):
    deployed = log.deploys[1][0]
    return {p: off + 1 for p, off in log.offsets_for_times(deployed).items()}
''' + SAFE_HANDLER, (0, 0, 0, 2, 2), "one past the first record v1.1 handled"),
    "receipts_sent_again": (RESET_AT_DEPLOY + '''
def handle(record, ctx, db):
    tx = db.transaction()
    applied = tx.get("payments", record.msg_id, 0)
    tx.put("balances", record.key, tx.get("balances", record.key, 0) - applied + record.value)
    tx.put("payments", record.msg_id, record.value)
    tx.put("receipts", record.msg_id, f"payment {record.msg_id} received")
    yield from tx.commit()
''', (0, 3, 3, 0, 2), "receipt was sent again"),
    "marker_in_its_own_transaction": (RESET_AT_DEPLOY + '''
def handle(record, ctx, db):
    tx = db.transaction()
    applied = tx.get("payments", record.msg_id)
    if applied == record.value:
        return
    tx.put("payments", record.msg_id, record.value)
    if tx.get("receipts", record.msg_id) is None:
        tx.put("receipts", record.msg_id, f"payment {record.msg_id} received")
    yield from tx.commit()
    tx = db.transaction()
    tx.put("balances", record.key, tx.get("balances", record.key, 0) - (applied or 0) + record.value)
    yield from tx.commit()
''', (2, 3, 0, 2, 2), "apart from the balance, a marker committed apart"),
    "receipts_remembered_in_a_set": (RESET_AT_DEPLOY + '''
receipted = set()

def handle(record, ctx, db):
    tx = db.transaction()
    applied = tx.get("payments", record.msg_id, 0)
    tx.put("balances", record.key, tx.get("balances", record.key, 0) - applied + record.value)
    tx.put("payments", record.msg_id, record.value)
    if record.msg_id not in receipted:
        tx.put("receipts", record.msg_id, f"payment {record.msg_id} received")
    yield from tx.commit()
    receipted.add(record.msg_id)
''', (0, 3, 3, 0, 2), "check the receipts table"),
    "one_before_the_bug": ('''
def reset_to(log):
    deployed = log.deploys[1][0]
    return {p: max(0, off - 1) for p, off in log.offsets_for_times(deployed).items()}
''' + SAFE_HANDLER, (2, 3, 3, 2, 0), "v1.0 had already handled correctly"),
    "reset_at_the_stop": ('''
def reset_to(log):
    return log.offsets_for_times(log.deploys[-1][0])
''' + SAFE_HANDLER, (0, 0, 0, 2, 2), "the committed offset, where v1.1 stopped"),
    "skips_records_already_in_payments": (RESET_AT_DEPLOY + '''
def handle(record, ctx, db):
    tx = db.transaction()
    if tx.get("payments", record.msg_id) is not None:
        return
''' + NAIVE_HANDLER.split("tx = db.transaction()\n", 1)[1], (0, 0, 0, 2, 2), "v2 must overwrite a wrong payments row"),
    "receipts_as_the_done_marker": (RESET_AT_DEPLOY + '''
def handle(record, ctx, db):
    tx = db.transaction()
    if tx.get("receipts", record.msg_id) is not None:
        return
    applied = tx.get("payments", record.msg_id, 0)
    tx.put("payments", record.msg_id, record.value)
    tx.put("balances", record.key, tx.get("balances", record.key, 0) - applied + record.value)
    tx.put("receipts", record.msg_id, f"payment {record.msg_id} received")
    yield from tx.commit()
''', (0, 0, 0, 2, 2), "v2 must overwrite a wrong payments row"),
    "divides_what_was_stored_by_100": (RESET_AT_DEPLOY + '''
def handle(record, ctx, db):
    tx = db.transaction()
    applied = tx.get("payments", record.msg_id)
    if applied is None:
        tx.put("payments", record.msg_id, record.value)
        tx.put("balances", record.key, tx.get("balances", record.key, 0) + record.value)
        tx.put("receipts", record.msg_id, f"payment {record.msg_id} received")
    else:
        tx.put("payments", record.msg_id, applied // 100)
        tx.put("balances", record.key, tx.get("balances", record.key, 0) - applied + applied // 100)
    yield from tx.commit()
''', (2, 0, 0, 2, 2), "after tx.commit()"),
    # -- correct, and different from the reference ----------------------------------------------
    "earliest_with_an_idempotent_handler": ('''
def reset_to(log):
    return {p: 0 for p in log.partitions}
''' + SAFE_HANDLER, (2, 3, 3, 2, 0), "started before the bug"),
    "fixes_the_hundredfold_rows_and_applies_new_ones": (RESET_AT_DEPLOY + '''
def handle(record, ctx, db):
    tx = db.transaction()
    applied = tx.get("payments", record.msg_id)
    if applied == record.value:
        return
    balance = tx.get("balances", record.key, 0)
    if applied is None:
        tx.put("balances", record.key, balance + record.value)
        tx.put("receipts", record.msg_id, f"payment {record.msg_id} received")
    else:
        tx.put("balances", record.key, balance - applied + record.value)
    tx.put("payments", record.msg_id, record.value)
    yield from tx.commit()
''', FULL, ""),
    "delta_always_and_own_crash_point": ('''
def reset_to(log):
    bug = [ms for ms, version in log.deploys if "bug" in version][0]
    found = log.offsets_for_times(bug)
    return {p: found[p] for p in log.partitions}


def handle(record, ctx, db):
    tx = db.transaction()
    was = tx.get("payments", record.msg_id, 0)
    tx.put("payments", record.msg_id, record.value)
    tx.put("balances", record.key, tx.get("balances", record.key, 0) + record.value - was)
    if not tx.get("receipts", record.msg_id):
        tx.put("receipts", record.msg_id, "receipt for " + str(record.msg_id))
    ctx.crash_point("before my commit")
    yield from tx.commit()
''', FULL, ""),
}
