"""Exercise 07's bank: profile update handlers a learner might write, with their points per criterion.

Points are (correct without crashes 2, reads see own write 2, no lost event 3, no phantom event 3).
"""

FULL = (2, 2, 3, 3)

REFERENCE = '''
def update(request, db, broker, ctx):
    tx = db.transaction()
    profile = dict(tx.get("profiles", request.user_id, {}))
    profile.update(request.changes)
    tx.put("profiles", request.user_id, profile)
    tx.add_event("profile-changes", request.user_id, {"type": "ProfileChanged", **request.changes})
    yield from tx.commit()
    return profile
'''

STARTER = '''
def update(request, db, broker, ctx):
    tx = db.transaction()
    profile = dict(tx.get("profiles", request.user_id, {}))
    profile.update(request.changes)
    tx.put("profiles", request.user_id, profile)
    yield from tx.commit()
    yield from broker.publish("profile-changes", request.user_id, {"type": "ProfileChanged", **request.changes})
    return profile
'''

_PROFILE = '''
def update(request, db, broker, ctx):
    tx = db.transaction()
    profile = dict(tx.get("profiles", request.user_id, {}))
    profile.update(request.changes)
    tx.put("profiles", request.user_id, profile)
'''

STARTER_FAULTS = ((0, 2, 0, 3), "broker was down")

BANK = {
    # replaces the profile with the request's changes: the own read shows the change, and the field set before is gone
    "replaces_the_profile_with_the_changes": (REFERENCE.replace(
        "    profile = dict(tx.get(\"profiles\", request.user_id, {}))\n    profile.update(request.changes)\n",
        "    profile = dict(request.changes)\n"), (0, 0, 3, 3), "rather than replacing"),
    # the reference, plus a row keyed by a tuple: feedback on the stray row, not an error of the grader's own
    "row_keyed_by_a_tuple": (REFERENCE.replace(
        "    yield from tx.commit()",
        "    tx.put(\"profiles\", (request.user_id, request.request_id), profile)\n    yield from tx.commit()"),
        (0, 2, 3, 3), "not user ids"),
    # the reference, plus an audit row per request in profiles (the text: one row per user)
    "audit_rows_in_the_profiles_table": (REFERENCE.replace(
        "    yield from tx.commit()",
        "    tx.put(\"profiles\", f\"change-{request.request_id}\", {\"user\": request.user_id, **request.changes})\n"
        "    yield from tx.commit()"), (0, 2, 3, 3), "not user ids"),
    "dual_write_commit_then_publish": (STARTER, (0, 2, 0, 3), "broker was down"),
    "dual_write_swallowing_publish_errors": ('''
def update(request, db, broker, ctx):
    tx = db.transaction()
    profile = dict(tx.get("profiles", request.user_id, {}))
    profile.update(request.changes)
    tx.put("profiles", request.user_id, profile)
    yield from tx.commit()
    try:
        yield from broker.publish("profile-changes", request.user_id, dict(request.changes))
    except Exception:
        pass
    return profile
''', (0, 2, 0, 3), "published directly is lost"),
    "publish_then_commit": ('''
def update(request, db, broker, ctx):
    yield from broker.publish("profile-changes", request.user_id, dict(request.changes))
    tx = db.transaction()
    profile = dict(tx.get("profiles", request.user_id, {}))
    profile.update(request.changes)
    tx.put("profiles", request.user_id, profile)
    yield from tx.commit()
    return profile
''', (0, 2, 3, 0), "published before the change was committed"),
    "publish_only_async": ('''
def update(request, db, broker, ctx):
    yield from broker.publish("profile-changes", request.user_id, dict(request.changes))
    return "accepted"
''', (0, 0, 3, 0), "commit the profile change before you answer"),
    "event_only_through_the_outbox": ('''
def update(request, db, broker, ctx):
    tx = db.transaction()
    tx.add_event("profile-changes", request.user_id, dict(request.changes))
    yield from tx.commit()
    return "accepted"
''', (0, 0, 3, 0), "commit the profile change before you answer"),
    "two_transactions_profile_then_outbox": ('''
def update(request, db, broker, ctx):
    tx = db.transaction()
    profile = dict(tx.get("profiles", request.user_id, {}))
    profile.update(request.changes)
    tx.put("profiles", request.user_id, profile)
    yield from tx.commit()
    tx2 = db.transaction()
    tx2.add_event("profile-changes", request.user_id, dict(request.changes))
    yield from tx2.commit()
    return profile
''', (2, 2, 0, 3), "in one transaction"),
    "forgets_yield_from_on_commit": ('''
def update(request, db, broker, ctx):
    tx = db.transaction()
    profile = dict(tx.get("profiles", request.user_id, {}))
    profile.update(request.changes)
    tx.put("profiles", request.user_id, profile)
    tx.add_event("profile-changes", request.user_id, dict(request.changes))
    tx.commit()
    yield ctx.timeout(1)
    return profile
''', (0, 0, 3, 3), "commit the profile change before you answer"),
    "dual_write_retrying_until_the_broker_is_back": (_PROFILE + '''    yield from tx.commit()
    while True:
        try:
            yield from broker.publish("profile-changes", request.user_id, dict(request.changes))
            break
        except Exception:
            yield ctx.timeout(50)
    return profile
''', (2, 2, 0, 3), "after the restart nobody sent it"),
    "publish_else_fall_back_to_the_outbox": (_PROFILE + '''    yield from tx.commit()
    try:
        yield from broker.publish("profile-changes", request.user_id, dict(request.changes))
    except Exception:
        tx2 = db.transaction()
        tx2.add_event("profile-changes", request.user_id, dict(request.changes))
        yield from tx2.commit()
    return profile
''', (2, 2, 0, 3), "in one transaction"),
    "outbox_then_waits_before_answering": (_PROFILE + '''    tx.add_event("profile-changes", request.user_id, dict(request.changes))
    yield from tx.commit()
    yield ctx.timeout(2000)
    return profile
''', (0, 0, 3, 3), "holds up every request behind it"),
    "topic_misspelt": (_PROFILE + '''    tx.add_event("profile_changes", request.user_id, dict(request.changes))
    yield from tx.commit()
    return profile
''', (0, 0, 0, 0), "expected one of 'profile-changes'"),
    # -- correct but different -------------------------------------------------------------
    "event_carries_the_whole_profile": ('''
def update(request, db, broker, ctx):
    user = request.user_id
    tx = db.transaction()
    new = {**(tx.get("profiles", user, default=None) or {}), **request.changes}
    tx.add_event("profile-changes", user, {"type": "ProfileChanged", "profile": new})
    tx.put("profiles", user, new)
    yield from tx.commit()
    return {"ok": True, "profile": new}
''', FULL, ""),
    "outbox_first_then_profile_one_commit_with_own_crash_point": ('''
def _merged(tx, request):
    profile = dict(tx.get("profiles", request.user_id) or {})
    for field, value in request.changes.items():
        profile[field] = value
    return profile

def update(request, db, broker, ctx):
    tx = db.transaction()
    tx.add_event("profile-changes", request.user_id, {"type": "ProfileChanged", "id": request.request_id})
    tx.put("profiles", request.user_id, _merged(tx, request))
    ctx.crash_point("before my commit")
    yield from tx.commit()
    ctx.crash_point("after my commit")
    return "ok"
''', FULL, ""),
}
