"""simkit.live.side_by_side: the same design in simkit and live, one row per run."""

import pytest

import simkit as sk
from simkit.live import side_by_side, simulator_design

pytestmark = pytest.mark.live


def test_side_by_side_gives_a_simkit_and_a_live_row_per_run_and_design():
    table = side_by_side("publish", ["dual_write", "outbox"], runs=2, messages=20, crash_rate=0.2,
                         fields=("lost", "crashes"))
    assert len(table) == 8
    assert table.groupby(["design", "engine"]).size().to_dict() == {
        ("dual_write", "live"): 2, ("dual_write", "simkit"): 2, ("outbox", "live"): 2, ("outbox", "simkit"): 2}
    assert (table.loc[table["design"] == "outbox", "lost"] == 0).all()
    simulated = table[table["engine"] == "simkit"]
    assert list(simulated["lost"]) == [sk.scenarios.publish(d, seed=r, messages=20, crash_rate=0.2).report.lost
                                       for d, r in zip(simulated["design"], simulated["run"])]


def test_live_store_offsets_is_compared_with_the_simulators_own_store_offsets():
    assert simulator_design("consume", "store_offsets") == "store_offsets"
    assert simulator_design("consume", "auto") == "auto"


def test_unknown_scenario_or_design_raises_config_error():
    with pytest.raises(sk.ConfigError) as info:
        side_by_side("replay", ["x"])
    assert info.value.param == "scenario"
    with pytest.raises(sk.ConfigError) as info:
        simulator_design("publish", "triple_write")
    assert info.value.param == "design"
