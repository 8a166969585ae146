"""Schema evolution: the registry accepts or refuses exactly what Confluent's modes say.

Sources the expectations come from:

* Confluent, "Schema Evolution and Compatibility", summary table of compatibility types
  (https://docs.confluent.io/platform/current/schema-registry/fundamentals/schema-evolution.html):
  BACKWARD and BACKWARD_TRANSITIVE allow deleting fields and adding optional fields;
  FORWARD and FORWARD_TRANSITIVE allow adding fields and deleting optional fields;
  FULL and FULL_TRANSITIVE allow adding and deleting optional fields only; the
  transitive modes compare with all earlier versions, the others with the latest one.
* confluentinc/schema-registry, core/src/test/java/io/confluent/kafka/schemaregistry/avro/AvroCompatibilityTest.java:
  its three schemas (f1; f1 + f2 with default; f1 + f2 without default) are the
  three-version histories below, where only the transitive checker objects.
* apache/avro, doc/content/en/docs/++version++/Specification/_index.md "Schema Resolution",
  and lang/java/avro/src/test/java/org/apache/avro/TestSchemaCompatibility*.java:
  a reader field missing from the writer needs a default (READER_FIELD_MISSING_DEFAULT_VALUE),
  int is read as long but long is not read as int (TYPE_MISMATCH), record names must match
  (NAME_MISMATCH), and writer fields the reader lacks are ignored.
"""

import pytest
from hypothesis import given
from hypothesis import strategies as st

import simkit as sk
from simkit.schemas import (
    MISSING, SCHEMA_KEY, TYPES, VERSION_KEY, Compatibility, DeserializationError, Field, IncompatibleSchema,
    Schema, SchemaRegistry, can_read, check_compatibility, contract_check, decode, encode,
)

V1 = Schema("UserSignedUp", (Field("user_id", "string"), Field("email", "string"),
                             Field("plan", "string", default="free")))

CHANGES = {
    "add optional field": V1.add_field(Field("locale", "string", default="en")),
    "add required field": V1.add_field(Field("country", "string")),
    "remove field with default": V1.remove_field("plan"),
    "remove required field": V1.remove_field("email"),
    "rename field": V1.rename_field("email", "email_address"),
}

# Confluent's summary table, one row per mode (the transitive rows allow the same changes).
ALLOWED = {
    "BACKWARD": {"remove required field", "remove field with default", "add optional field"},
    "FORWARD": {"add required field", "add optional field", "remove field with default"},
    "FULL": {"add optional field", "remove field with default"},
    "NONE": set(CHANGES),
}
ALLOWED.update({f"{m}_TRANSITIVE": ALLOWED[m] for m in ("BACKWARD", "FORWARD", "FULL")})


def test_every_mode_is_in_the_table_and_backward_is_the_default():
    assert set(ALLOWED) == {m.value for m in Compatibility}
    assert SchemaRegistry().compatibility is Compatibility.BACKWARD


@pytest.mark.parametrize("mode", sorted(ALLOWED))
@pytest.mark.parametrize("change", sorted(CHANGES))
def test_registry_accepts_exactly_the_changes_confluent_allows(mode, change):
    reg = SchemaRegistry(mode)
    assert reg.register("users-value", V1) == 1
    if change in ALLOWED[mode]:
        assert reg.check("users-value", CHANGES[change]) == []
        assert reg.register("users-value", CHANGES[change]) == 2
        assert reg.latest("users-value") == CHANGES[change] and reg.latest("users-value").version == 2
    else:
        assert reg.check("users-value", CHANGES[change])
        with pytest.raises(IncompatibleSchema) as err:
            reg.register("users-value", CHANGES[change])
        assert err.value.problems and err.value.subject == "users-value"
        assert "users-value" in str(err.value) and mode in str(err.value)
        assert all(p in str(err.value) for p in err.value.problems)
        assert reg.versions("users-value") == [1]


def test_problem_messages_name_the_versions_the_field_and_the_writer():
    reg = SchemaRegistry()
    reg.register("users-value", V1)
    assert reg.check("users-value", CHANGES["add required field"]) == [
        "v2 cannot read v1 data: reader field 'country' has no default and writer 'UserSignedUp' v1 does not write it"]


# AvroCompatibilityTest's schemas: v1 has f1; v2 adds f2 with a default; v3 drops f2's default.
F1 = Schema("myrecord", (Field("f1", "string"),))
F1_F2_DEFAULT = F1.add_field(Field("f2", "string", default="foo"))
F1_F2_REQUIRED = F1.add_field(Field("f2", "string"))


@pytest.mark.parametrize("mode, history", [
    # each step reads the one before, but v3 (f2 required) cannot read v1 data (no f2 there)
    ("BACKWARD", [F1, F1_F2_DEFAULT, F1_F2_REQUIRED]),
    # each step's data is read by the step before, but v1 (f2 required) cannot read v3 data (no f2 there)
    ("FORWARD", [F1_F2_REQUIRED, F1_F2_DEFAULT, F1]),
    ("FULL", [F1, F1_F2_DEFAULT, F1_F2_REQUIRED]),
    ("FULL", [F1_F2_REQUIRED, F1_F2_DEFAULT, F1]),
])
def test_only_the_transitive_mode_looks_past_the_last_version(mode, history):
    plain = SchemaRegistry(mode)
    assert [plain.register("s", s) for s in history] == [1, 2, 3]
    strict = SchemaRegistry(f"{mode}_TRANSITIVE")
    strict.register("s", history[0])
    strict.register("s", history[1])
    with pytest.raises(IncompatibleSchema, match="v1") as err:
        strict.register("s", history[2])
    assert all("v2" not in p for p in err.value.problems)  # v2 was fine; only v1 is the problem
    assert strict.versions("s") == [1, 2]


def test_a_subject_can_have_its_own_mode():
    reg = SchemaRegistry()
    reg.register("users", V1)
    reg.set_compatibility("NONE", subject="users")
    assert reg.get_compatibility("users") is Compatibility.NONE
    assert reg.get_compatibility("orders") is Compatibility.BACKWARD
    assert reg.register("users", CHANGES["rename field"]) == 2
    reg.set_compatibility("FULL")
    assert reg.get_compatibility() is Compatibility.FULL


def test_the_same_schema_again_keeps_its_version():
    reg = SchemaRegistry()
    assert reg.register("s", V1) == 1
    assert reg.register("s", CHANGES["add optional field"]) == 2
    assert reg.register("s", Schema(V1.name, V1.fields)) == 1  # equal by shape: no new version
    assert reg.versions("s") == [1, 2] and reg.get("s", 1) == V1 and reg.get("s", 1).version == 1
    assert reg.versions("unknown") == []
    with pytest.raises(sk.ConfigError, match="subject"):
        reg.latest("unknown")


def test_avro_type_promotion_goes_one_way():
    ints, longs = Schema("E", (Field("n", "int"),)), Schema("E", (Field("n", "long"),))
    doubles = Schema("E", (Field("n", "double"),))
    assert can_read(longs, ints) == [] and can_read(doubles, longs) == []
    assert can_read(ints, longs) == ["reader field 'n' is int but writer 'E' writes it as long (int reads only int)"]
    assert decode(doubles, ints, encode(ints, {"n": 3})) == {"n": 3.0}
    strings = Schema("E", (Field("n", "string"),))
    assert can_read(strings, ints) and can_read(ints, strings)


def test_record_names_must_match():
    assert can_read(Schema("OrderPlaced", V1.fields), V1) == [
        "reader record 'OrderPlaced' and writer record 'UserSignedUp' have different names"]


def test_decode_fills_defaults_and_drops_unknown_fields():
    wire = encode(V1, {"user_id": "u1", "email": "a@x"})
    assert wire == {SCHEMA_KEY: "UserSignedUp", VERSION_KEY: None, "user_id": "u1", "email": "a@x", "plan": "free"}
    newer = CHANGES["add optional field"]
    assert decode(newer, V1, wire) == {"user_id": "u1", "email": "a@x", "plan": "free", "locale": "en"}
    from_newer = encode(newer, {"user_id": "u1", "email": "a@x", "locale": "fr"})
    assert decode(V1, newer, from_newer) == {"user_id": "u1", "email": "a@x", "plan": "free"}


def test_an_old_consumer_fails_on_a_drifted_payload():
    drifted = CHANGES["rename field"]
    wire = encode(drifted, {"user_id": "u1", "email_address": "a@x"})
    with pytest.raises(DeserializationError, match="'email'"):
        decode(V1, drifted, wire)
    with pytest.raises(DeserializationError, match="'email'"):  # hand-made data that lacks a field
        decode(V1, V1, {"user_id": "u1"})


def test_contract_check_names_the_consumers_that_break():
    consumers = {"email-service": V1, "analytics": Schema("UserSignedUp", (Field("user_id", "string"),))}
    result = contract_check(consumers, CHANGES["rename field"])
    assert result["analytics"] == []
    assert result["email-service"] == [
        "reader field 'email' has no default and writer 'UserSignedUp' does not write it"]
    assert contract_check(consumers, CHANGES["add optional field"]) == {"email-service": [], "analytics": []}


def test_bad_input_is_refused_with_a_config_error():
    with pytest.raises(sk.ConfigError, match="compatibility") as err:
        SchemaRegistry("SIDEWAYS")
    assert all(m.value in str(err.value) for m in Compatibility)
    with pytest.raises(sk.ConfigError, match="compatibility"):
        SchemaRegistry().set_compatibility("STRICT", subject="s")
    assert SchemaRegistry("full_transitive").compatibility is Compatibility.FULL_TRANSITIVE
    with pytest.raises(sk.ConfigError, match="type"):
        Field("x", "varchar")
    with pytest.raises(sk.ConfigError, match="default"):
        Field("x", "int", default="zero")
    with pytest.raises(sk.ConfigError, match="email"):
        encode(V1, {"user_id": "u1"})
    with pytest.raises(sk.ConfigError, match="emial"):
        encode(V1, {"user_id": "u1", "email": "a@x", "emial": "typo"})
    with pytest.raises(sk.ConfigError, match="32-bit"):
        encode(Schema("E", (Field("n", "int"),)), {"n": 2**31})
    with pytest.raises(sk.ConfigError, match="nope"):
        V1.remove_field("nope")
    with pytest.raises(sk.ConfigError, match="version"):
        SchemaRegistry().get("s", 1)
    assert issubclass(IncompatibleSchema, sk.SimkitError) and issubclass(DeserializationError, sk.SimkitError)


# --- properties over random schemas --------------------------------------------------------------

VALUES = {"string": st.text(max_size=4), "int": st.integers(-2**31, 2**31 - 1),
          "long": st.integers(-2**63, 2**63 - 1), "double": st.floats(allow_nan=False), "boolean": st.booleans()}


@st.composite
def fields(draw, name):
    type_ = draw(st.sampled_from(TYPES))
    return Field(name, type_, draw(st.one_of(st.just(MISSING), VALUES[type_])))


@st.composite
def schemas(draw):
    names = draw(st.lists(st.sampled_from("abcde"), unique=True, max_size=5))
    return Schema("E", tuple(draw(fields(n)) for n in names))


@st.composite
def payloads(draw, schema):
    return {f.name: draw(VALUES[f.type]) for f in schema.fields if not f.optional or draw(st.booleans())}


@given(schemas())
def test_a_schema_reads_its_own_data(schema):
    assert can_read(schema, schema) == []
    assert all(check_compatibility(m, schema, [schema]) == [] for m in Compatibility)


@given(schemas(), schemas())
def test_full_is_backward_plus_forward(old, new):
    assert check_compatibility("FULL", new, [old]) == (
        check_compatibility("BACKWARD", new, [old]) + check_compatibility("FORWARD", new, [old]))
    assert len(check_compatibility("BACKWARD", new, [old])) == len(can_read(new, old))
    assert len(check_compatibility("FORWARD", new, [old])) == len(can_read(old, new))
    assert check_compatibility("NONE", new, [old]) == []


@given(st.lists(schemas(), min_size=1, max_size=4), schemas(), st.sampled_from(["BACKWARD", "FORWARD", "FULL"]))
def test_transitive_checks_only_add_problems(history, new, mode):
    last = check_compatibility(mode, new, history)
    every = check_compatibility(f"{mode}_TRANSITIVE", new, history)
    assert all(p in every for p in last)


@given(st.data(), schemas())
def test_canonical_changes_on_any_schema(data, schema):
    extra = data.draw(fields("z"))
    added = schema.add_field(extra)
    assert check_compatibility("FORWARD", added, [schema]) == []  # adding any field
    assert (check_compatibility("BACKWARD", added, [schema]) == []) == extra.optional
    if schema.fields:
        gone = data.draw(st.sampled_from(schema.fields))
        removed = schema.remove_field(gone.name)
        assert check_compatibility("BACKWARD", removed, [schema]) == []  # deleting any field
        assert (check_compatibility("FULL", removed, [schema]) == []) == gone.optional


@given(st.data(), schemas(), schemas())
def test_decode_succeeds_exactly_when_can_read_says_so(data, reader, writer):
    wire = encode(writer, data.draw(payloads(writer)))
    if can_read(reader, writer):
        with pytest.raises(DeserializationError):
            decode(reader, writer, wire)
    else:
        out = decode(reader, writer, wire)
        assert list(out) == [f.name for f in reader.fields]
        for f in reader.fields:
            assert out[f.name] == (wire[f.name] if writer.field(f.name) else f.default)
