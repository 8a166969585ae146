"""A consumer on a replicated cluster: it fetches from the leader, below the high watermark, through failovers."""

import pytest

import simkit as sk
from simkit.replication import Cluster

N, GAP = 60, 10


def _run(*, brokers=3, rf=3, min_isr=2, acks="all", delay=5, unclean=False, crashes=(), reset="earliest"):
    w = sk.World(1)
    c = Cluster(w, brokers, replication_factor=rf, min_insync_replicas=min_isr, replication_delay=delay,
                unclean_leader_election=unclean)
    c.create_topic("t", 1)
    p = sk.Producer(w, c, "p", acks=acks, latency=1)

    def send():
        for i in range(N):
            p.send("t", key=f"k{i}", msg_id=i, partition=0)
            yield w.env.timeout(GAP)

    w.env.process(send())
    sk.Consumer(w, c, "c", "t", lambda r, ctx: None, commit="after_processing", auto_offset_reset=reset,
                processing_time=1)
    for broker, start, duration in crashes:
        c.crash(broker, start, duration)
    w.run(until=3000)
    return w.trace.to_frame(), c


def test_a_consumer_reads_every_acknowledged_record_once_through_a_leader_failover():
    t, c = _run(crashes=[(0, 200, 300)])
    elected = t[t.event == "leader_elected"]
    assert list(elected.time) == [200] and elected.detail.iloc[0] == "broker-1 epoch 1"
    processed = t[t.event == "processed"]
    assert sorted(processed.msg_id) == list(range(N))  # nothing lost, nothing twice
    assert processed.offset.is_monotonic_increasing
    # after the crash the records come from the new leader: appended by broker-1, then processed
    new = t[(t.event == "append") & (t.component == "broker-1")]
    assert len(new) > 0 and set(new.msg_id) <= set(processed[processed.time > 200].msg_id)


def test_a_consumer_sees_a_record_only_once_every_in_sync_replica_has_it():
    t, _ = _run(delay=20)
    processed = t[t.event == "processed"].set_index("offset").time
    replicated = t[t.event == "replicate"].groupby("offset").time.max()  # the later of the two followers
    appended = t[t.event == "append"].set_index("offset").time
    assert len(processed) == N
    assert (processed >= replicated.reindex(processed.index)).all()
    assert (processed - appended.reindex(processed.index) >= 1).all()  # it waited for the high watermark


def test_with_no_leader_the_consumer_waits_and_reads_on_from_the_next_one():
    # min_isr=1, two brokers: both down for a while, the consumer gets nothing, then goes on from the same offset
    t, c = _run(brokers=2, rf=2, min_isr=1, acks=1, crashes=[(0, 200, 300), (1, 150, 400)])
    assert c.down is False and c.brokers_down == [False, False]
    processed = t[t.event == "processed"]
    assert not ((processed.time > 200) & (processed.time < 500)).any()
    assert processed.offset.is_monotonic_increasing and processed.offset.is_unique


@pytest.mark.parametrize("reset", ["earliest", "latest"])
def test_an_unclean_election_cuts_the_log_under_a_consumer_and_it_resets_past_the_new_end(reset):
    # broker-1 is away (the ISR is the leader alone, which serves what only it has); it is back at 302
    # and broker-0 fails at 303, before broker-1 fetched: broker-1 leads, uncleanly, with 10 records
    t, c = _run(brokers=2, rf=2, min_isr=1, acks=1, unclean=True, crashes=[(1, 100, 202), (0, 303, 1000)],
                reset=reset)
    assert "unclean" in t[t.event == "leader_elected"].detail.iloc[0]
    resets = t[t.event == "offset_reset"]
    assert len(resets) == 1 and resets.time.iloc[0] == 303
    assert resets.offset.iloc[0] == 31 and "past the log end" in resets.detail.iloc[0]
    processed = t[t.event == "processed"]
    later = processed[processed.time > 303]
    if reset == "earliest":
        assert later.offset.min() == 0  # read again from the log start: what broker-1 had is repeated
        assert processed.msg_id.duplicated().any()
    else:
        assert later.offset.min() == 10  # the new leader's end: the records it has since then
    lost = set(range(10, 31)) - set(t[(t.event == "append") & (t.component == "broker-1")].msg_id)
    assert lost and lost <= set(processed[processed.time <= 303].msg_id)  # read once, then gone from the log


def test_a_consumer_group_on_a_cluster_commits_and_a_cluster_fully_down_refuses_commits():
    t, c = _run()
    commits = t[t.event == "commit"]
    assert commits.offset.max() == N  # committed to the end
    w = sk.World(0)
    cl = Cluster(w, 2, replication_factor=2)
    cl.create_topic("t", 1)
    cl.crash(0, 0, 10)
    cl.crash(1, 0, 10)
    w.run(until=5)
    assert cl.down
    with pytest.raises(sk.errors.BrokerUnavailable, match="every broker"):
        cl.check_up("offset commit")
