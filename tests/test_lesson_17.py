"""Lesson 17's claims (exactly-once and its limits), checked against the scenario it runs.

The lesson prints its numbers from the runs; what its text says in words is checked here.
"""

import pytest

import simkit as sk
from simkit.scenarios.exactly_once import aborted_offsets

SEEDS = 10


@pytest.fixture(scope="module")
def seeds():
    committed = sk.compare("exactly_once", ["at_least_once", "transactional"], seeds=SEEDS, progress=False)
    dirty = sk.compare("exactly_once", ["transactional"], seeds=SEEDS, progress=False,
                       isolation_level="read_uncommitted")
    return committed, dirty


def test_the_setup_the_lesson_describes_is_the_scenario_s_defaults():
    d = sk.scenarios.SCENARIOS["exactly_once"].defaults
    assert (d["messages"], d["partitions"], d["crash_rate"], d["isolation_level"]) == (400, 3, 0.05, "read_committed")
    means = [sk.as_distribution(name, d[name]).mean
             for name in ("arrival_interval", "processing_time", "email_latency", "restart_delay")]
    assert means == [25, 5, 5, 200]


def test_about_16_crashes_strike_at_seed_0():
    for design in ("at_least_once", "transactional"):
        assert 14 <= sk.scenarios.exactly_once(design, seed=0).report.crashes <= 18


def test_a_crash_before_the_work_repeats_nothing_and_the_others_repeat_the_invoice():
    for point, invoice, email in (("before_process", 0, 0), ("after_send", 1, 0), ("after_email", 1, 1),
                                  ("after_process", 1, 1)):
        r = sk.scenarios.exactly_once("at_least_once", seed=0, crash_rate=0, crash_schedule=[(20, point)]).report
        assert (r.crashes, r.duplicates_in_output, r.repeated_side_effects) == (1, invoice, email), point


def test_under_transactions_only_a_crash_between_the_email_and_the_commit_repeats_the_email():
    for point, aborted, email in (("before_process", 0, 0), ("after_send", 1, 0), ("after_email", 1, 1),
                                  ("after_process", 0, 0)):
        r = sk.scenarios.exactly_once("transactional", seed=0, crash_rate=0, crash_schedule=[(20, point)]).report
        assert (r.aborted_transactions, r.repeated_side_effects, r.duplicates_in_output) == (aborted, email, 0), point


def test_the_aborted_invoices_stay_in_the_log_and_a_read_uncommitted_reader_gets_every_one():
    committed = sk.scenarios.exactly_once("transactional", seed=0)
    dirty = sk.scenarios.exactly_once("transactional", seed=0, isolation_level="read_uncommitted").report
    void = len(aborted_offsets(committed.trace))
    assert committed.report.output_records - committed.report.output_read == void > 0
    assert dirty.aborted_read == void


def test_no_seed_gives_a_duplicate_invoice_with_transactions_and_read_committed(seeds):
    committed, dirty = seeds
    txn = committed[committed.design == "transactional"]
    assert txn.duplicates_in_output.max() == 0 and txn.aborted_read.max() == 0
    assert (committed[committed.design == "at_least_once"].duplicates_in_output > 0).all()
    assert (dirty.aborted_read > 0).all() and (dirty.duplicates_in_output > 0).all()


def test_emails_are_repeated_on_every_seed_about_half_as_often_with_transactions(seeds):
    committed, _ = seeds
    means = committed.groupby("design").repeated_side_effects.mean()
    assert (committed.repeated_side_effects > 0).all()
    assert 0.35 < means["transactional"] / means["at_least_once"] < 0.65


def test_read_committed_costs_the_reader_the_rest_of_the_transaction():
    c = sk.scenarios.exactly_once("transactional", seed=0, crash_rate=0).report
    u = sk.scenarios.exactly_once("transactional", seed=0, crash_rate=0, isolation_level="read_uncommitted").report
    assert c.latency_p50 > u.latency_p50
