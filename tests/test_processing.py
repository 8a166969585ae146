"""Handling records one by one in the poll loop, or through a pool of workers that lets polling run ahead."""

import simkit as sk


def run(workers, n=8):
    w = sk.World(seed=1)
    b = sk.Broker(w)
    b.create_topic("t", 1)
    p = sk.Producer(w, b)
    for i in range(n):
        p.send("t", msg_id=i)
    c = sk.Consumer(w, b, "c", "t", processing_time=10, workers=workers, auto_offset_reset="earliest")
    w.run(until=1000)
    return c, w.trace.to_frame()


def test_without_workers_records_are_handled_one_after_another():
    _, t = run(None)
    assert t[t.event == "processed"].time.tolist() == [10 * (i + 1) for i in range(8)]


def test_a_pool_of_four_handles_four_records_at_a_time():
    c, t = run(4)
    assert t[t.event == "processed"].time.tolist() == [10] * 4 + [20] * 4
    assert c.idle  # all done: the queue is empty and every worker waits


def test_every_record_handed_to_the_pool_is_handled_once():
    _, t = run(3, n=31)
    assert sorted(t[t.event == "processed"].msg_id) == list(range(31))
