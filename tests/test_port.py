"""PortBank: a shared buffer bank granted one access at a time, round-robin
(bsnn_sim/timing/port.py). Hand-derived schedules, the closed-form jumps against a
plain per-access reference, and independence from the order of same-cycle events."""

from hypothesis import given, settings, strategies as st

from bsnn_sim.timing.clock import Clock
from bsnn_sim.timing.port import PortBank, round_robin


def run(access_cycles, requesters, requests):
    """Simulate ``requests`` = [(cycle, requester, accesses)]; a requester's requests are
    issued one after another, each at its cycle or when the previous one ends if later.
    Returns [(requester, arrival, end)] by arrival, and the bank."""
    env = Clock()
    bank = PortBank(env, access_cycles, requesters)
    out = []

    def client(r, jobs):
        for at, n in jobs:
            if at > env.now:
                yield env.timeout(at - env.now)
            asked = env.now  # ``at``, or later if the previous request ended after it
            bank.request(r, n)
            yield from bank.served(r)
            out.append((r, asked, env.now))

    for r in range(requesters):
        jobs = [(at, n) for at, who, n in requests if who == r]
        if jobs:
            env.process(client(r, jobs))
    env.run()
    return sorted(out, key=lambda x: (x[1], x[0])), bank


def reference(free_at, last, left, access_cycles, until=None):
    """The arbitration rule one access at a time: at each decision cycle grant the first
    requester with accesses left after the one granted last, in circular order."""
    left, ends, k = list(left), {}, len(left)
    while any(left) and (until is None or free_at < until):
        r = next(c % k for c in range(last + 1, last + 1 + k) if left[c % k])
        left[r] -= 1
        free_at += access_cycles
        last = r
        if not left[r]:
            ends[r] = free_at
    return free_at, last, left, ends


def test_three_requests_take_turns_access_by_access():
    """2 cycles an access. r0 asks for 3 at 0, r1 for 2 at 1, r2 for 1 at 4.
    Decisions: 0 -> r0 (alone) [0, 2]; 2 -> r1 (after r0) [2, 4]; 4 -> r2 (after r1; it
    arrived in that cycle) [4, 6], r2 done at 6; 6 -> r0 [6, 8]; 8 -> r1 [8, 10], r1 done
    at 10; 10 -> r0 [10, 12], r0 done at 12. Waits (end - arrival - own accesses x 2):
    r0 12 - 0 - 6 = 6, r1 10 - 1 - 4 = 5, r2 0."""
    done, bank = run(2, 3, [(0, 0, 3), (1, 1, 2), (4, 2, 1)])
    assert done == [(0, 0, 12), (1, 1, 10), (2, 4, 6)]
    assert bank.wait_cycles == 11


def test_a_lone_request_runs_at_full_rate_and_waits_for_the_access_in_progress():
    """3 cycles an access: r0 asks for 2 at 0 ([0, 3], [3, 6]); r1 asks for 1 at 4, while
    r0's second access is under way, so it is granted at 6: ends 9 (waited 2)."""
    done, bank = run(3, 2, [(0, 0, 2), (4, 1, 1)])
    assert done == [(0, 0, 6), (1, 4, 9)] and bank.wait_cycles == 2


def test_a_request_arriving_as_an_access_ends_is_in_that_grant():
    """3 cycles an access: r0 asks for 2 at 0; r1 asks for 1 at 3, the cycle r0's first
    access ends: r1 is granted at 3 (after r0 in circular order), r0's second access at 6."""
    done, _ = run(3, 2, [(0, 0, 2), (3, 1, 1)])
    assert done == [(0, 0, 9), (1, 3, 6)]


def test_a_requester_asking_again_as_its_request_ends_goes_after_the_waiting_one():
    """1 cycle an access: r1 asks for 2 at 0 (alone: [0, 2]); r0 asks for 3 at 1: 1 -> r0
    (after r1), 2 -> r1: r1 ends at 3 and asks for 1 more at 3; 3 -> r0 (after r1), 4 ->
    r1: ends 5; 5 -> r0: ends 6."""
    done, _ = run(1, 2, [(0, 1, 2), (3, 1, 1), (1, 0, 3)])
    assert done == [(1, 0, 3), (0, 1, 6), (1, 3, 5)]


def test_same_cycle_requests_give_the_same_schedule_in_either_event_order():
    """Two requests arriving in one cycle: the result must not depend on which of them
    SimPy handles first (requester 0 goes first before any grant)."""
    results = []
    for order in ((0, 1), (1, 0)):
        env = Clock()
        bank = PortBank(env, 2, 2)
        ends = {}

        def client(r):
            yield env.timeout(5)
            bank.request(r, 3 - r)
            yield from bank.served(r)
            ends[r] = env.now

        for r in order:
            env.process(client(r))
        env.run()
        results.append((ends, bank.wait_cycles))
    # 5 -> r0, 7 -> r1, 9 -> r0, 11 -> r1 (r1 done 13), 13 -> r0 (done 15)
    assert results[0] == results[1] == ({0: 15, 1: 13}, (15 - 5 - 6) + (13 - 5 - 4))


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 4), st.integers(0, 3), st.lists(st.integers(0, 40), min_size=1, max_size=4),
       st.integers(0, 30), st.one_of(st.none(), st.integers(0, 200)))
def test_closed_form_jumps_equal_the_access_by_access_rule(access_cycles, last, left, free_at, until):
    last %= len(left)
    assert round_robin(free_at, last, left, access_cycles, until) == reference(free_at, last, left, access_cycles,
                                                                                until)


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 3), st.lists(st.tuples(st.integers(0, 30), st.integers(0, 2), st.integers(1, 12)),
                                   min_size=1, max_size=8))
def test_engine_equals_a_cycle_by_cycle_replay(access_cycles, raw):
    """Random arrivals of three requesters (each request issued when the requester's
    previous one has ended, or at its own cycle if later) against a replay that decides
    every grant one access at a time."""
    done, bank = run(access_cycles, 3, raw)
    # replay: requests in the order each requester issued them, with their actual arrival
    queue = {r: [(at, n) for at, who, n in raw if who == r] for r in range(3)}
    t, last, left, arrived, ends, nxt = 0, 2, [0, 0, 0], [0, 0, 0], [], {r: 0 for r in range(3)}
    ready = {r: queue[r][0][0] if queue[r] else None for r in range(3)}
    sizes = [0, 0, 0]
    while any(left) or any(v is not None for v in ready.values()):
        for r in range(3):  # arrivals up to this decision cycle
            if ready[r] is not None and ready[r] <= t and not left[r]:
                arrived[r], sizes[r] = ready[r], queue[r][nxt[r]][1]
                left[r] = sizes[r]
                ready[r] = None
        if not any(left):
            t = min(v for v in ready.values() if v is not None)
            continue
        r = next(c % 3 for c in range(last + 1, last + 4) if left[c % 3])
        left[r] -= 1
        t += access_cycles
        last = r
        if not left[r]:
            ends.append((r, arrived[r], t))
            nxt[r] += 1
            if nxt[r] < len(queue[r]):
                ready[r] = max(t, queue[r][nxt[r]][0])
    assert done == sorted(ends, key=lambda x: (x[1], x[0]))
    assert bank.wait_cycles == sum(e - a for _, a, e in ends) - access_cycles * sum(n for _, _, n in raw)
