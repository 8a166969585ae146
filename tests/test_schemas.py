"""The registry refuses exactly what Confluent's compatibility modes forbid.

Expectations from Confluent's "Schema Evolution and Compatibility" table: BACKWARD
allows deleting fields and adding optional fields; FORWARD allows adding fields and
deleting optional fields; FULL allows adding and deleting optional fields; the
_TRANSITIVE variants check every earlier version, the others only the last.
"""

import pytest

import simkit as sk
from simkit.schemas import (
    COMPATIBILITY_MODES, DeserializationError, Field, IncompatibleSchema, Schema, SchemaRegistry, can_read,
    contract_check, decode, encode,
)

V1 = Schema("UserSignedUp", (Field("user_id"), Field("email"), Field("plan", default="free")))

CHANGES = {
    "add_optional_field": V1.add_field(Field("locale", default="en")),
    "add_required_field": V1.add_field(Field("country")),
    "remove_optional_field": V1.remove_field("plan"),
    "remove_required_field": V1.remove_field("email"),
    "rename_field": V1.rename_field("email", "email_address"),
}

ALLOWED = {
    "BACKWARD": {"add_optional_field", "remove_optional_field", "remove_required_field"},
    "FORWARD": {"add_optional_field", "add_required_field", "remove_optional_field"},
    "FULL": {"add_optional_field", "remove_optional_field"},
    "NONE": set(CHANGES),
}


@pytest.mark.parametrize("mode", ["BACKWARD", "FORWARD", "FULL", "NONE"])
@pytest.mark.parametrize("change", sorted(CHANGES))
def test_registry_accepts_exactly_what_the_mode_allows(mode, change):
    reg = SchemaRegistry(mode)
    assert reg.register("users", V1) == 1
    if change in ALLOWED[mode]:
        assert reg.register("users", CHANGES[change]) in (1, 2)
    else:
        with pytest.raises(IncompatibleSchema, match=mode) as err:
            reg.register("users", CHANGES[change])
        assert err.value.problems
        assert reg.versions("users") == [1]


def test_transitive_modes_check_every_earlier_version():
    v1 = Schema("E", (Field("a"),))
    v2 = Schema("E", (Field("a", default=""), Field("b", default="")))  # a becomes optional
    v3 = Schema("E", (Field("b", default=""),))  # drop a: fine against v2, not against v1 (FORWARD)
    plain = SchemaRegistry("FORWARD")
    for v in (v1, v2, v3):
        plain.register("e", v)
    assert plain.versions("e") == [1, 2, 3]
    strict = SchemaRegistry("FORWARD_TRANSITIVE")
    strict.register("e", v1)
    strict.register("e", v2)
    with pytest.raises(IncompatibleSchema, match="v1"):
        strict.register("e", v3)


def test_type_promotion_follows_avro():
    old = Schema("E", (Field("n", "int"),))
    new = Schema("E", (Field("n", "long"),))
    assert can_read(new, old) == []  # a long reader reads ints
    assert can_read(old, new)  # an int reader cannot read longs


def test_decode_fills_defaults_and_skips_unknown_fields():
    new = CHANGES["add_optional_field"]
    data = encode(V1, {"user_id": "u1", "email": "a@x"})
    assert decode(new, V1, data) == {"user_id": "u1", "email": "a@x", "plan": "free", "locale": "en"}
    assert decode(V1, new, encode(new, {"user_id": "u1", "email": "a@x", "locale": "fr"}))["email"] == "a@x"


def test_old_consumer_fails_on_a_renamed_field():
    new = CHANGES["rename_field"]
    with pytest.raises(DeserializationError, match="email"):
        decode(V1, new, encode(new, {"user_id": "u1", "email_address": "a@x"}))


def test_contract_check_names_the_consumer_that_breaks():
    result = contract_check({"email-service": V1, "analytics": Schema("UserSignedUp", (Field("user_id"),))},
                            CHANGES["rename_field"])
    assert result["analytics"] == [] and result["email-service"]


def test_same_schema_twice_keeps_its_version():
    reg = SchemaRegistry()
    assert reg.register("s", V1) == 1 and reg.register("s", V1) == 1
    assert reg.latest("s") == V1 and reg.get("s", 1) == V1


def test_bad_names():
    with pytest.raises(sk.ConfigError, match="compatibility"):
        SchemaRegistry("SIDEWAYS")
    with pytest.raises(sk.ConfigError, match="type"):
        Field("x", "varchar")
    with pytest.raises(sk.ConfigError, match="payload"):
        encode(V1, {"user_id": "u1"})
    assert set(COMPATIBILITY_MODES) >= {"BACKWARD", "FORWARD", "FULL", "NONE"}
