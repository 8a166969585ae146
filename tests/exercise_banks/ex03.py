"""Exercise 03's bank: partition keys a learner might choose, with the points each must get per criterion.

Points are (per-account order 5, load spread 5), and ``why`` is a phrase the feedback of every
criterion that lost must contain.
"""

FULL = (5, 5)

REFERENCE = '''
BALANCE = ("Deposited", "Withdrawn", "FeeCharged")

def key_for(event):
    if event.kind in BALANCE:
        return event.account
    return None
'''

STARTER_FAULTS = ((5, 0), "busiest partition")

BANK = {
    # -- wrong answers ---------------------------------------------------------------------
    # the busy accounts the feedback named, listed by hand: the third case's busy account is drawn from its seed
    "names_the_busy_accounts_from_feedback": ('''
BUSY = ("acct-07", "acct-23")

def key_for(event):
    if event.account in BUSY and event.kind in ("BalanceChecked", "StatementViewed"):
        return event.event_id
    return event.account
''', (5, 0), "acct-28"),
    "account_for_everything": ('''
def key_for(event):
    return event.account
''', (5, 0), "busiest partition"),
    "no_key_at_all": ('''
def key_for(event):
    return None
''', (0, 5), "more than one partition"),
    "event_id_spreads_everything": ('''
def key_for(event):
    return event.event_id
''', (0, 5), "more than one partition"),
    "region_has_few_values": ('''
def key_for(event):
    return event.region
''', (5, 0), "busiest partition"),
    "one_constant_key": ('''
def key_for(event):
    return "accounts"
''', (5, 0), "busiest partition"),
    "account_and_kind": ('''
def key_for(event):
    return f"{event.account}:{event.kind}"
''', (0, 0), "partition"),
    "salted_account": ('''
def key_for(event):
    return f"{event.account}#{event.seq % 4}"
''', (0, 5), "more than one partition"),
    "hard_coded_hot_account": ('''
def key_for(event):
    if event.account == "acct-07" and event.kind in ("BalanceChecked", "StatementViewed"):
        return event.event_id
    return event.account
''', (5, 0), "acct-23"),
    "hot_account_split_entirely": ('''
def key_for(event):
    if event.account == "acct-07":
        return event.event_id
    return event.account
''', (0, 0), "partition"),
    "int_key": ('''
def key_for(event):
    return event.seq
''', (0, 0), "a str, bytes or None"),
    "raises_on_read_events": ('''
def key_for(event):
    return {"Deposited": 1, "Withdrawn": 1, "FeeCharged": 1}[event.kind] and event.account
''', (0, 0), "KeyError"),
    # leaves FeeCharged out of the balance kinds: fees go unkeyed, to whichever partition is sticky
    "forgets_fee_charged": ('''
def key_for(event):
    if event.kind in ("Deposited", "Withdrawn"):
        return event.account
    return None
''', (0, 5), "more than one partition"),
    # spreads the reads by region: the busy account has one region, so all its reads share one key
    "reads_keyed_by_region": ('''
def key_for(event):
    if event.kind in ("BalanceChecked", "StatementViewed"):
        return event.region
    return event.account
''', (5, 0), "busiest partition"),
    # moves the reads to a second key per account: the busy account's reads still all land together
    "reads_on_a_second_key_per_account": ('''
def key_for(event):
    if event.kind in ("BalanceChecked", "StatementViewed"):
        return event.account + ":reads"
    return event.account
''', (5, 0), "busiest partition"),
    # -- correct, and different from the reference ----------------------------------------------
    "reads_keyed_by_event_id": ('''
def key_for(event):
    if event.kind in ("BalanceChecked", "StatementViewed"):
        return event.event_id
    return event.account
''', FULL, ""),
    "bytes_keys_and_seq_for_reads": ('''
READ_ONLY = {"BalanceChecked", "StatementViewed"}

def key_for(event):
    if event.kind in READ_ONLY:
        return f"{event.account}/{event.seq}".encode()
    return event.account.encode()
''', FULL, ""),
    "prefixed_account_via_helper": ('''
import functools

def ledger_key(account):
    return "ledger:" + account

@functools.lru_cache(maxsize=None)
def is_balance(kind):
    return kind not in ("BalanceChecked", "StatementViewed")

def key_for(event):
    return ledger_key(event.account) if is_balance(event.kind) else None
''', FULL, ""),
}
