"""ConfigError keeps its one-line message wherever it is raised: inside SimPy processes and across pickling."""

import pickle

import pytest
import simpy

import simkit as sk


def test_a_config_error_raised_inside_a_simpy_process_comes_out_as_the_same_config_error():
    env = simpy.Environment()

    def proc():
        yield env.timeout(1)
        raise sk.ConfigError("processing_time", -1, "a number of ms >= 0")

    env.process(proc())
    with pytest.raises(sk.ConfigError) as info:
        env.run()
    assert str(info.value) == "processing_time=-1 is not allowed: expected a number of ms >= 0"
    assert (info.value.param, info.value.value) == ("processing_time", -1)


def test_a_config_error_survives_pickling_for_process_pools():
    err = pickle.loads(pickle.dumps(sk.ConfigError("seeds", 0, ["a", "b"])))
    assert isinstance(err, ValueError) and str(err) == "seeds=0 is not allowed: expected one of 'a', 'b'"


def test_a_crash_survives_simpy_copying_it():
    crash = sk.Crash("consumer", "after_process")
    copy = type(crash)(*crash.args)
    assert str(copy) == str(crash) == "consumer crashed at 'after_process'"
