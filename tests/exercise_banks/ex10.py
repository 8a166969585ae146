"""Exercise 10's bank: alert rules a learner might write, with the points each must get per criterion.

Points are (a stall pages within 60 s 4, a busy consumer never pages 3, an idle consumer never pages 3), and
``why`` is a phrase the feedback of every criterion that lost must contain.
"""

FULL = (4, 3, 3)

REFERENCE = '''
def page(m):
    return m.lag_ms > 30_000
'''

STARTER_FAULTS = ((0, 3, 3), "never paged")

BANK = {
    # -- wrong answers ---------------------------------------------------------------------
    "records_threshold_high": ('''
def page(m):
    return m.lag > 5000
''', (0, 3, 3), "never paged"),
    "records_threshold_low": ('''
def page(m):
    return m.lag > 3
''', (4, 0, 3), "burst case"),
    "any_lag_at_all": ('''
def page(m):
    return m.lag > 0
''', (4, 0, 3), "paged a healthy consumer"),
    "no_commit_for_30_s": ('''
def page(m):
    return m.since_commit_ms > 30_000
''', (4, 0, 0), "paged a healthy consumer"),
    "time_lag_too_eager": ('''
def page(m):
    return m.lag_ms > 10_000
''', (4, 0, 3), "burst case"),
    # the eager rule muted around the first burst's time (about 100 s to 118 s): the seeded burst still pages it
    "time_lag_muted_around_the_burst": ('''
def page(m):
    in_batch = 90_000 <= m.now <= 135_000
    return m.lag_ms > 10_000 and not in_batch
''', (4, 0, 3), "mutes itself at a moment on the clock"),
    "time_lag_too_patient": ('''
def page(m):
    return m.lag_ms > 90_000
''', (0, 3, 3), "later"),
    "returns_a_number": ('''
def page(m):
    return m.lag_ms
''', (0, 0, 0), "return True (page) or False"),
    "three_samples_of_record_lag": ('''
above = []

def page(m):
    above.append(m.lag > 100)
    return all(above[-3:])
''', (0, 0, 3), "paged a healthy consumer"),
    "time_lag_read_as_seconds": ('''
def page(m):
    return m.lag_ms > 30
''', (4, 0, 3), "burst case"),
    "record_lag_growing_for_two_samples": ('''
lags = []

def page(m):
    lags.append(m.lag)
    return len(lags) >= 3 and lags[-1] > lags[-2] > lags[-3]
''', (0, 3, 3), "trickle_stall case) and page() never paged"),
    "no_commit_for_60_s_while_behind": ('''
def page(m):
    return m.lag > 0 and m.since_commit_ms >= 60_000
''', (0, 3, 3), "later"),
    "raises_when_nothing_is_behind": ('''
def page(m):
    return m.lag_ms / m.lag > 1_000
''', (0, 0, 0), "ZeroDivisionError"),
    # -- a rule keyed to the clock: the fixed cases' stalls start at 120 s and 122.5 s, the fifth case's at a
    # time drawn from its seed between 25 s and 55 s
    "pages_after_the_stall_time_when_behind": ('''
def page(m):
    return m.now >= 125_000 and m.lag > 0
''', (0, 3, 3), "drawn from the case's seed"),
    "pages_after_the_stall_time_when_waiting": ('''
def page(m):
    return m.now >= 120_000 and m.lag_ms > 0
''', (0, 3, 3), "on the clock (m.now)"),
    "pages_after_a_minute_when_behind": ('''
def page(m):
    return m.now >= 60_000 and m.lag > 0
''', (4, 0, 3), "paged a healthy consumer"),
    # -- correct, and different from the reference ----------------------------------------------
    "lag_and_no_progress": ('''
def page(m):
    return m.lag > 0 and m.since_commit_ms > 30_000
''', FULL, ""),
    "time_lag_near_the_limit_and_latched": ('''
paged = False

def page(m):
    global paged
    paged = paged or m.lag_ms > 55_000
    return paged
''', FULL, ""),
    "time_lag_for_three_samples": ('''
history = []

def page(m):
    history.append(m.lag_ms > 20_000)
    return len(history) >= 3 and all(history[-3:])
''', FULL, ""),
}
