import pytest

import simkit as sk


def test_links_deliver_in_order_like_tcp():
    w = sk.World(seed=2)
    link = sk.Link(w, "a->b", sk.uniform(1, 50))
    arrivals = []
    for i in range(50):
        arrivals.append(w.now + link.delay())
    assert arrivals == sorted(arrivals)


def test_a_cut_link_drops_what_is_sent_into_it():
    w = sk.World(seed=1)
    link = sk.Link(w, "a->b", 5)
    link.cut(10, 10)
    got = []

    def send():
        for t in (0, 8, 12, 25):
            yield w.env.timeout(t - w.now)
            got.append(link.delay())

    w.env.process(send())
    w.run()
    assert got == [5.0, None, None, 5.0]  # the one sent at 8 would arrive inside the cut


def test_call_returns_the_answer_after_both_trips_and_the_service_time():
    w = sk.World(seed=1)
    there, back = sk.Link(w, "req", 3), sk.Link(w, "resp", 4)
    server = sk.Server(w, "svc", service_time=10)
    out = []

    def handler(request):
        yield from server.serve()
        return request * 2

    def client():
        answer = yield from sk.call(w, there, back, handler, 21)
        out.append((w.now, answer))

    w.env.process(client())
    w.run()
    assert out == [(17.0, 42)]


def test_call_times_out_indefinitely():
    w = sk.World(seed=1)
    there, back = sk.Link(w, "req", 1), sk.Link(w, "resp", 1)
    back.cut(0, 1000)
    errors = []

    def handler(request):
        yield w.env.timeout(1)
        return "done"

    def client():
        try:
            yield from sk.call(w, there, back, handler, "x", timeout=50)
        except sk.RequestTimeout as err:
            errors.append((w.now, err.definite))

    w.env.process(client())
    w.run()
    assert errors == [(50.0, False)]


def test_server_queues_requests():
    w = sk.World(seed=1)
    server = sk.Server(w, "svc", service_time=10, capacity=1)
    done = []

    def job(i):
        yield from server.serve()
        done.append(w.now)

    for i in range(3):
        w.env.process(job(i))
    w.run()
    assert done == [10.0, 20.0, 30.0]


@pytest.mark.parametrize("start,duration,param", [(-1, 5, "start"), (5, 0, "duration")])
def test_bad_windows(start, duration, param):
    w = sk.World(seed=1)
    with pytest.raises(sk.ConfigError, match=param):
        sk.Link(w, "l", 1).cut(start, duration)


def test_bad_capacity():
    with pytest.raises(sk.ConfigError, match="capacity"):
        sk.Server(sk.World(seed=1), "s", 1, capacity=0)
