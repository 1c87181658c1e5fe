"""PortBank: a spike buffer's ports granted one access at a time, round-robin.

The hardware: one bank of ``buffer.ports`` ports; an *access* moves up to ``ports``
words of ONE requester and takes ``a = cycles(t_access_ns)`` cycles. A request asks for
``n`` accesses (a whole step's words: ``ceil(ceil(bits / width_bits) / ports)``). With
``buffer.port_grant = "word"`` the bank is shared per access:

- a *grant decision* is taken whenever the bank is free: at the end of every access, or
  when a request arrives at an idle bank;
- it considers the requests present at that cycle, including those arriving in the same
  cycle, and grants the next access to the first of them after the requester granted
  last, in the bank's fixed circular order of requesters (0, 1, ..., k-1, 0, ...). Before
  any grant the last one granted counts as requester ``k - 1``, so requester 0 goes first;
- an access is never interrupted.

So a lone request runs at full rate (``n * a`` cycles) and two requests with words left
alternate access by access. A request's *port wait* is ``finish - arrival - n * a``: the
cycles it was present but not served.

The engine does not run a process per word. The bank keeps its state at the next
grant decision (the cycle the bank frees, who was granted last, the accesses each
request has left) and plays grants forward in closed form (:func:`round_robin`): while
the same ``k`` requests are present they take whole rounds of ``k`` accesses in a fixed
order, so ``r`` rounds are one jump of ``r * k * a`` cycles. A request's finishing cycle
is predicted from that state; the waiting process sleeps until then (one timeout) and
sleeps again only if a later arrival pushed it back. An arrival can only delay others
(it takes accesses, never gives them), and never an access granted before its cycle, so
the result does not depend on the order in which SimPy processes events of one cycle.
Events therefore scale with requests and contention changes, not with words.
"""

from __future__ import annotations

from ..errors import SimulationError


def round_robin(free_at: int, last: int, left, access_cycles: int, until: int | None = None):
    """Play the grant decisions taken at cycles ``< until`` (None: until no access is left).

    State: the bank frees at ``free_at``, ``last`` was granted last, ``left[r]`` accesses
    of requester ``r`` are still to be granted. Returns the new ``(free_at, last, left)``
    and ``{requester: cycle its last access ends}`` for the requests that finished."""
    left = list(left)
    k_all = len(left)
    ends = {}
    while until is None or free_at < until:
        active = [r for r in ((last + 1 + j) % k_all for j in range(k_all)) if left[r]]
        if not active:
            break
        k = len(active)
        # whole rounds that leave every active request at least one access (its last is
        # granted one by one below, so its end is recorded) and start before ``until``
        rounds = min(left[r] for r in active) - 1
        if until is not None:
            rounds = min(rounds, -(-(until - free_at) // access_cycles) // k)
        if rounds > 0:
            for r in active:
                left[r] -= rounds
            free_at += rounds * k * access_cycles
            last = active[-1]
            continue
        r = active[0]
        left[r] -= 1
        free_at += access_cycles
        last = r
        if not left[r]:
            ends[r] = free_at
    return free_at, last, left, ends


class PortBank:
    """One bank of ports serving ``requesters`` fixed requesters, granted per access."""

    def __init__(self, env, access_cycles: int, requesters: int):
        self.env = env
        self.access_cycles = access_cycles
        self.free_at = 0  # the cycle of the next grant decision (the bank is busy before it)
        self.last = requesters - 1
        self.left = [0] * requesters  # accesses not yet granted
        self.arrived = [0] * requesters
        self.size = [0] * requesters  # accesses of the request
        self.end = [0] * requesters  # last access's end of a finished request
        self.wait_cycles = 0

    def _alone(self) -> int | None:
        """The one requester with accesses left, if exactly one has (the common case)."""
        active = [r for r, n in enumerate(self.left) if n]
        return active[0] if len(active) == 1 else None

    def _commit(self, now: int):
        """Take every grant decision before ``now`` (they cannot change any more)."""
        if not any(self.left):
            return
        r = self._alone()
        if r is not None:  # alone: one access after another, the same as round_robin
            granted = min(self.left[r], max(0, -(-(now - self.free_at) // self.access_cycles)))
            if granted:
                self.left[r] -= granted
                self.free_at += granted * self.access_cycles
                self.last = r
                if not self.left[r]:
                    self.end[r] = self.free_at
            return
        self.free_at, self.last, self.left, ends = round_robin(self.free_at, self.last, self.left,
                                                                self.access_cycles, now)
        for r, cycle in ends.items():
            self.end[r] = cycle

    def request(self, r: int, accesses: int):
        """Requester ``r`` asks for ``accesses`` accesses from now (it has none pending)."""
        now = self.env.now
        self._commit(now)
        if self.left[r]:
            raise SimulationError(f"port requester {r} asked again before its request was served")
        if not any(self.left):
            self.free_at = max(self.free_at, now)
        self.left[r], self.arrived[r], self.size[r] = accesses, now, accesses
        if not accesses:
            self.end[r] = now

    def finish(self, r: int) -> int:
        """The cycle requester ``r``'s request ends, if no other request arrives."""
        if not self.left[r]:
            return self.end[r]
        if self._alone() == r:
            return self.free_at + self.left[r] * self.access_cycles
        return round_robin(self.free_at, self.last, self.left, self.access_cycles)[3][r]

    def served(self, r: int):
        """Process body: wait until requester ``r``'s request has had all its accesses."""
        env = self.env
        while True:
            end = self.finish(r)
            if end <= env.now:
                break
            yield env.timeout(end - env.now)
        self.wait_cycles += end - self.arrived[r] - self.size[r] * self.access_cycles
