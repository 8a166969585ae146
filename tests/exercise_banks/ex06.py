"""Exercise 06's bank: schemas and consumers a learner might write, with the points each must get per criterion.

Points are (BACKWARD accepts V2 3, FULL refuses V2_NOT_FULL 3, the consumer reads v1 and V2 4), and ``why``
is a phrase the feedback of every criterion that lost must contain.
"""

FULL = (3, 3, 4)

_HEAD = '''
from simkit.schemas import Field, Schema, decode
from simkit.scenarios.schema_drift import V1
'''

REFERENCE = _HEAD + '''
V2 = V1.add_field(Field("channel", "string", "unknown"))
V2_NOT_FULL = V2.remove_field("currency")

def read(payload, writer):
    event = decode(V2, writer, payload)
    return event["user"], event["amount"], event["channel"]
'''

STARTER_FAULTS = ((0, 0, 0), "")


def _variant(*swaps):
    source = REFERENCE
    for old, new in swaps:
        assert old in source, old
        source = source.replace(old, new)
    return source


_CHANNEL = 'Field("channel", "string", "unknown")'
_NOT_FULL = 'V2_NOT_FULL = V2.remove_field("currency")'
_DECODE = "decode(V2, writer, payload)"

BANK = {
    # -- wrong answers ---------------------------------------------------------------------
    "channel_without_default": (_variant((_CHANNEL, 'Field("channel", "string")'),
                                         (_NOT_FULL, 'V2_NOT_FULL = V1.remove_field("currency")')),
                                (0, 3, 0), "needs a default"),
    "other_schema_full_accepts": (_variant((_NOT_FULL, 'V2_NOT_FULL = V1.add_field(Field("coupon", "string", ""))')),
                                  (3, 0, 4), "FULL registry accepted"),
    "other_schema_refused_by_backward_too": (_variant((_NOT_FULL,
                                                       'V2_NOT_FULL = V1.add_field(Field("channel", "string"))')),
                                             (3, 0, 4), "BACKWARD refused V2_NOT_FULL"),
    # the text: V2 keeps v1's three fields and adds channel; a second new field is another change
    "adds_a_second_field": (_variant((_CHANNEL, 'Field("channel", "string", "unknown")).add_field('
                                                'Field("country", "string", "NL")')), (0, 3, 4), "also adds"),
    "decodes_with_the_writer_schema": (_variant((_DECODE, "decode(writer, writer, payload)")), (3, 3, 0),
                                       "dead letters"),
    "reads_the_raw_payload": (_variant((_DECODE, "payload")), (3, 3, 0), "KeyError('channel')"),
    "decodes_with_v1_and_guesses_web": (_variant((_DECODE, "decode(V1, writer, payload)"),
                                                 ('event["channel"]', 'event.get("channel", "web")')),
                                        (3, 3, 0), "expected"),
    "renames_the_record": (_variant(("V2 = V1.add_field", 'V2 = Schema("PaymentReceivedV2", V1.fields).add_field'),
                                    (_NOT_FULL, 'V2_NOT_FULL = V1.remove_field("currency")')),
                           (0, 3, 0), "different names"),
    "drops_currency_from_v2": (_variant(("V2 = V1.add_field", 'V2 = V1.remove_field("currency").add_field'),
                                        (_NOT_FULL, 'V2_NOT_FULL = V1.remove_field("amount")')),
                               (0, 3, 4), "drops v1's 'currency'"),
    "default_none_instead_of_unknown": (_variant((_CHANNEL, 'Field("channel", "string", "none")')), (0, 3, 0),
                                        "not v1 plus channel"),
    "returns_a_list": (_variant(('return event["user"], event["amount"], event["channel"]',
                                 'return [event["user"], event["amount"], event["channel"]]')),
                       (3, 3, 0), "not a (user, amount, channel) tuple"),
    "no_v2_not_full": (_variant((_NOT_FULL, "")), (3, 0, 4), "defines no V2_NOT_FULL"),
    "v1_channel_left_as_none": (_variant(('return event["user"], event["amount"], event["channel"]',
                                          'return payload["user"], payload["amount"], payload.get("channel")')),
                                (3, 3, 0), "read as ('user-5', 4293, None)"),
    "amount_turned_into_euros": (_variant(('event["amount"], event["channel"]',
                                           'event["amount"] / 100, event["channel"]')), (3, 3, 0), "42.93"),
    "tuple_in_the_wrong_order": (_variant(('event["user"], event["amount"], event["channel"]',
                                           'event["user"], event["channel"], event["amount"]')), (3, 3, 0),
                                 "expected ('user-5', 4293, 'unknown')"),
    "writer_compared_with_is": (_HEAD + '''
V2 = V1.add_field(Field("channel", "string", "unknown"))
V2_NOT_FULL = V2.remove_field("currency")

def read(payload, writer):
    if writer is V1:
        return payload["user"], payload["amount"], "unknown"
    return payload["user"], payload["amount"], payload["channel"]
''', (3, 3, 0), "KeyError('channel')"),
    "channel_typed_long": (_variant((_CHANNEL, 'Field("channel", "long", 0)')), (0, 3, 0),
                           "cannot write its payments with V2"),
    "other_schema_renames_currency": (_variant((_NOT_FULL, 'V2_NOT_FULL = V2.rename_field("currency", "ccy")')),
                                      (3, 0, 4), "'ccy' has no default"),
    # -- correct, and different from the reference ----------------------------------------------
    "schemas_from_scratch_and_get_with_default": (_HEAD + '''
V2 = Schema("PaymentReceived", (Field("user", "string"), Field("amount", "long"), Field("currency", "string"),
                                Field("channel", "string", "unknown")))
V2_NOT_FULL = V1.remove_field("amount")

def read(payload, writer):
    return payload["user"], payload["amount"], payload.get("channel", "unknown")
''', FULL, ""),
    "channel_first_and_writer_compared_with_eq": (_HEAD + '''
V2 = Schema("PaymentReceived", (Field("channel", "string", "unknown"),) + tuple(V1.fields))
V2_NOT_FULL = Schema(V2.name, tuple(f for f in V2.fields if f.name != "user"))

def read(payload, writer):
    channel = "unknown" if writer == V1 else payload["channel"]
    return (payload["user"], payload["amount"], channel)
''', FULL, ""),
    "decorated_reader_by_version": (_HEAD + '''
import functools

V2 = V1.add_field(Field("channel", "string", "unknown"))
V2_NOT_FULL = V1.add_field(Field("channel", "string", "unknown")).remove_field("user")

def logged(fn):
    @functools.wraps(fn)
    def wrapper(payload, writer):
        return fn(payload, writer)
    return wrapper

@logged
def read(payload, writer):
    event = decode(V2 if writer.version >= 2 else V1, writer, payload)
    return event["user"], event["amount"], event.get("channel", "unknown")
''', FULL, ""),
}
