"""Exercise 05's bank: poison-message handlers a learner might write, with the points each must get.

Points are (the partition keeps moving 2, bounded retries with back-off 2, a brief outage is ridden out 2,
per-order order holds 2, nothing dropped 2), and ``why`` is a phrase the feedback of every criterion that lost
must contain.
"""

FULL = (2, 2, 2, 2, 2)

REFERENCE = '''
from simkit.grading.exercises.poison import DatabaseDown, PoisonRecord

def handle(record, tools):
    if tools.parked(record.key):
        yield from tools.dead_letter(record, "parked behind an earlier update of this order")
        return
    wait = 50
    for attempt in range(5):
        try:
            yield from tools.apply(record)
            return
        except PoisonRecord as why:
            yield from tools.dead_letter(record, str(why))
            return
        except DatabaseDown:
            yield tools.sleep(wait)
            wait *= 2
    yield from tools.dead_letter(record, "database down too long")
'''

STARTER_FAULTS = ((0, 0, 2, 2, 2), "tried")


def _variant(*swaps):
    source = REFERENCE
    for old, new in swaps:
        assert old in source, old
        source = source.replace(old, new)
    return source


_POISON = '''        except PoisonRecord as why:
            yield from tools.dead_letter(record, str(why))
            return
'''

BANK = {
    # -- wrong answers ---------------------------------------------------------------------
    # retries the database for as long as it is down: the brief outages end before its 7th try, the long one not
    "retries_the_database_without_bound": (_variant(("for attempt in range(5):", "while True:"),
                                                    ('    yield from tools.dead_letter(record, "database down too long")\n',
                                                     "")),
                                           (2, 0, 2, 2, 2), "stays down longer than your back-off can wait"),
    "no_error_handling": ('''
def handle(record, tools):
    yield from tools.apply(record)
''', (0, 0, 2, 2, 2), "tried"),
    "retries_poison_for_ever": (_variant(("for attempt in range(5):", "while True:"), (_POISON, "")),
                                (0, 0, 2, 2, 2), "orders.DLT and return"),
    "swallows_every_error": ('''
def handle(record, tools):
    try:
        yield from tools.apply(record)
    except Exception:
        pass
''', (2, 2, 2, 2, 0), "neither applied nor dead-lettered"),
    "retries_without_waiting": (_variant(("yield tools.sleep(wait)", "yield tools.sleep(0)")),
                                (2, 0, 0, 2, 2), "ms after it failed"),
    "dead_letters_at_the_first_outage": (_variant(("            yield tools.sleep(wait)\n            wait *= 2\n",
                                                   "            break\n")),
                                         (2, 2, 0, 2, 2), "went to orders.DLT"),
    "does_not_park_the_order": (_variant(("    if tools.parked(record.key):\n", "    if False:\n")),
                                (2, 2, 2, 0, 2), "park the later ones"),
    "sleeps_on_poison_too_many_times": (_variant((_POISON, ""), ("for attempt in range(5):",
                                                                 "for attempt in range(7):"),
                                                 ("except DatabaseDown:", "except (DatabaseDown, PoisonRecord):")),
                                        (2, 0, 2, 2, 2), "at most 6 tries"),
    "parks_in_a_python_set": (_variant(("def handle(record, tools):\n    if tools.parked(record.key):\n",
                                        "parked = set()\n\ndef handle(record, tools):\n    if record.key in parked:\n"),
                                       ("            yield from tools.dead_letter(record, str(why))\n",
                                        "            yield from tools.dead_letter(record, str(why))\n"
                                        "            parked.add(record.key)\n")),
                              # it parks only behind poison, not behind a record dead-lettered after its tries:
                              # the long outage shows that without a crash (and a crash empties the set)
                              (2, 2, 2, 0, 2), "applied after an earlier update"),
    # a back-off that starts at 10 ms: five tries span 150 ms, not the 400 ms outage
    "back_off_too_short_for_the_outage": (_variant(("    wait = 50\n", "    wait = 10\n")),
                                          (2, 2, 0, 2, 2), "outlast a short outage"),
    # retries a DatabaseDown for ever, 50 ms apart: the outage costs a record more than 6 tries
    "retries_the_outage_for_ever": (_variant(("for attempt in range(5):", "while True:"),
                                             ("            yield tools.sleep(wait)\n            wait *= 2\n",
                                              "            yield tools.sleep(50)\n")),
                                    (2, 0, 2, 2, 2), "at most 6 tries"),
    # parks a later update but forgets to return, so it applies it as well
    "parks_then_applies_anyway": (_variant(('        yield from tools.dead_letter(record, "parked behind an earlier '
                                            'update of this order")\n        return\n',
                                            '        yield from tools.dead_letter(record, "parked behind an earlier '
                                            'update of this order")\n')),
                                  (2, 2, 2, 0, 2), "applied after an earlier update"),
    # -- correct, and different from the reference ----------------------------------------------
    "fixed_back_off_and_parking_set_by_key": ('''
from simkit.grading.exercises.poison import DatabaseDown, PoisonRecord

def handle(record, tools):
    if tools.parked(record.key):
        yield from tools.dead_letter(record, "parked")
        return
    for attempt in range(6):
        try:
            yield from tools.apply(record)
            return
        except DatabaseDown:
            if attempt == 5:
                break
            yield tools.sleep(150)
        except PoisonRecord:
            break
    yield from tools.dead_letter(record, "gave up")
''', FULL, ""),
    "helper_generator": ('''
from simkit.grading.exercises.poison import DatabaseDown, PoisonRecord

def attempt_with_backoff(record, tools, waits=(100, 200, 400, 800)):
    for wait in waits:
        try:
            yield from tools.apply(record)
            return True
        except PoisonRecord:
            return False
        except DatabaseDown:
            yield tools.sleep(wait)
    return False

def park(record, tools, reason):
    yield from tools.dead_letter(record, reason)

def handle(record, tools):
    if tools.parked(record.key):
        return park(record, tools, "behind a dead-lettered update")
    return handle_fresh(record, tools)

def handle_fresh(record, tools):
    if not (yield from attempt_with_backoff(record, tools)):
        yield from park(record, tools, "failed")
''', FULL, ""),
}
