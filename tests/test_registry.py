"""One contract for every scenario: NAME(design, *, seed=0, ...), registered with designs and fields."""

import inspect
import warnings

import pytest

import simkit as sk
from simkit import glossary
from simkit.scenarios import SCENARIOS


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_registered_scenario_takes_the_design_first_and_the_rest_by_keyword(name):
    params = list(inspect.signature(SCENARIOS[name].function).parameters.values())
    assert params[0].name == "design" and params[0].kind is params[0].POSITIONAL_OR_KEYWORD
    assert all(p.kind is p.KEYWORD_ONLY for p in params[1:]) and params[1].name == "seed"


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_registered_scenario_declares_only_glossary_fields(name):
    assert glossary.unknown(SCENARIOS[name].fields) == []


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_an_unknown_design_or_parameter_is_a_config_error(name):
    fn = SCENARIOS[name].function
    with pytest.raises(sk.ConfigError, match="design"):
        fn("no_such_design")
    with pytest.raises(sk.ConfigError, match="no_such_parameter"):
        fn(SCENARIOS[name].designs[0], no_such_parameter=1)


def test_the_old_positional_call_still_works_with_a_warning_naming_the_new_one():
    with pytest.warns(DeprecationWarning, match="crash_rate="):
        old = sk.scenarios.publish("dual_write", 0.05, 30, 2)
    new = sk.scenarios.publish("dual_write", crash_rate=0.05, messages=30, seed=2)
    assert old.report == new.report


def test_an_old_report_field_answers_with_a_warning():
    r = sk.scenarios.publish("dual_write", messages=10)
    with pytest.warns(DeprecationWarning, match="failed_requests"):
        assert r.report.failed == r.report.failed_requests
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert r.report.failed_requests == 0


def test_compare_writes_a_design_column_and_the_report_fields():
    df = sk.compare("publish", ["dual_write", "outbox"], seeds=2, messages=20, crash_rate=0.1)
    assert list(df.columns[:2]) == ["design", "seed"] and set(df.design) == {"dual_write", "outbox"}
    assert set(SCENARIOS["publish"].fields) <= set(df.columns)


def test_sweep_writes_a_design_column_too():
    df = sk.sweep("publish", {"crash_rate": [0.0, 0.2]}, seeds=1, messages=20)
    assert list(df.design) == ["dual_write", "dual_write"] and list(df.crash_rate) == [0.0, 0.2]
