"""Timing engine: hand-checkable micro-scenarios, the closed form, action counts.

Default clock: t_clk 0.5 ns, so one sensing phase (0.5 + 1.0 + 0.5 ns) is 4 cycles,
a neuron update 1 cycle, a buffer access 1 cycle (64-bit words, one port) and the
digital unit does 64 MACs per cycle.
"""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from bsnn_sim.actions import DYNAMIC_ACTIONS
from bsnn_sim.arch import ArchConfig
from bsnn_sim.errors import SimulationError
from bsnn_sim.mapping import map_network
from bsnn_sim.network import INPUT, Conv2d, Encoding, EncodingKind, Flatten, Linear, Network, NeuronKind, Precision
from bsnn_sim.timing import ACTIONS, Activity, closed_form_latency, simulate_timing
from bsnn_sim.timing.clock import Clock
from bsnn_sim.timing.subarray import SubarrayGroup
from netfactory import tiny_network

T_SENSE = 4


def layer(cls, name, src, shape, precision="binary", neuron=NeuronKind.IF, seed=0, **kw):
    rng = np.random.default_rng(seed)
    w = rng.choice(np.array([-1, 1], np.int8), size=shape)
    out = shape[0]
    return cls(name=name, input=src, weight=w, precision=Precision(precision), neuron=neuron, frac_bits=0,
               bias=np.zeros(out, np.int32), theta=None if neuron is NeuronKind.READOUT else np.ones(out, np.int32),
               res_gain=None if kw.get("residual") is None else np.ones(out, np.int32), **kw)


def chain(steps=4):
    """input (1,4,4) threshold spikes -> l1 binary 1x1 conv 1->4 (P = 16, static input)
    -> l2 binary 1x1 conv 4->4 -> l3 binary 1x1 conv 4->4 + residual l1 -> flatten (64)
    -> out int8 readout 64->2 (128 MACs = 2 cycles). Every spike tensor is 64 bits."""
    return Network.build((1, 4, 4), steps, Encoding(EncodingKind.THRESHOLD), [
        layer(Conv2d, "l1", INPUT, (4, 1, 1, 1)),
        layer(Conv2d, "l2", "l1", (4, 4, 1, 1)),
        layer(Conv2d, "l3", "l2", (4, 4, 1, 1), residual="l1"),
        Flatten("flat", "l3"),
        layer(Linear, "out", "flat", (2, 64), "int8", NeuronKind.READOUT),
    ])


def arch(**overrides):
    # a 32 fF converter input lets the tiny 4-column subarrays of these scenarios settle
    # within the 1 ns phase (settling itself is tested in test_energy.py); the hand
    # schedules below are for 1R1W buffers unless a test shares the ports
    return ArchConfig().replace(**{"chip.replication": "none", "converter.c_sample_ff": 32.0,
                                   "buffer.port_sharing": "separate", **overrides})


def activity(net, m, positions, chunks=None, spikes=0, n=1):
    """Same counts for every in-memory layer, image and step unless given per layer."""
    steps = net.time_steps
    full = lambda v: np.full((n, steps), v, np.int64) if np.isscalar(v) else np.asarray(v, np.int64)
    pos, ch, sp = {}, {}, {}
    for lm in m.layers:
        if lm.in_memory:
            p = positions[lm.name] if isinstance(positions, dict) else positions
            c = (chunks[lm.name] if isinstance(chunks, dict) else chunks) if chunks is not None else p
            pos[lm.name], ch[lm.name] = full(p), full(c)
        if not lm.kind.startswith("readout"):
            sp[lm.name] = full(spikes)
    return Activity.from_dicts(pos, ch, sp)


# ---- components --------------------------------------------------------------------

def test_two_sensings_on_one_subarray_serialize():
    env = Clock()
    group = SubarrayGroup(env, "x", replicas=1, cycles_per_position=T_SENSE)
    ends = []

    def one():
        yield from group.sense(1)
        ends.append(env.now)

    env.process(one())
    env.process(one())
    env.run()
    assert ends == [T_SENSE, 2 * T_SENSE]
    assert group.wait_cycles == T_SENSE and group.busy_cycles == 2 * T_SENSE


def test_positions_spread_over_replicas_one_timeout_each():
    env = Clock()
    group = SubarrayGroup(env, "x", replicas=3, cycles_per_position=T_SENSE)
    assert group.shares(7) == [3, 2, 2] and group.shares(2) == [1, 1] and group.shares(0) == []
    env.process(group.sense(7))
    env.run()
    assert env.now == 3 * T_SENSE and group.busy_cycles == 7 * T_SENSE


@pytest.mark.parametrize("batch, policy, ends", [
    (0, "fifo", {"A": 6, "B": 10}),  # whole phases: A [0, 6], B waits, [6, 10]
    (0, "oldest_image", {"A": 6, "B": 10}),  # nothing to choose: only B waits
    (2, "fifo", {"A": 10, "B": 8}),  # A [0,2] B [2,4] A [4,6] B [6,8] A [8,10]
    (2, "oldest_image", {"A": 10, "B": 6}),  # A [0,2] B [2,4] B [4,6] A [6,8] A [8,10]
])
def test_digital_unit_arbitration_by_hand(batch, policy, ends):
    """A (image 1, layer 0) asks at 0 for 6 cycles; B (image 0, layer 5) asks at 1 for 4."""
    from bsnn_sim.timing.digital import DigitalUnit

    env = Clock()
    unit = DigitalUnit(env, policy, batch)
    done = {}

    def job(name, at, cycles, image, layer):
        yield env.timeout(at)
        yield from unit.compute(cycles, image, layer)
        done[name] = env.now

    env.process(job("A", 0, 6, 1, 0))
    env.process(job("B", 1, 4, 0, 5))
    env.run()
    assert done == ends and unit.busy_cycles == 10


def test_oldest_image_first_keeps_a_pipelined_image_from_waiting_behind_the_next():
    """Rate-coded int8 first layer d1 and int8 readout share the digital unit (8 MACs per
    cycle, 2-cycle batches). Pipelined, FIFO lets image 1's d1 take turns with image 0's
    readout; oldest-image-first serves image 0's readout batches first."""
    net = Network.build((1, 4, 4), 2, Encoding(EncodingKind.RATE), [
        layer(Conv2d, "d1", INPUT, (4, 1, 1, 1), "int8"), layer(Conv2d, "l2", "d1", (4, 4, 1, 1)),
        Flatten("flat", "l2"), layer(Linear, "out", "flat", (2, 64), "int8", NeuronKind.READOUT)])
    lat = {}
    for policy in ("fifo", "oldest_image"):
        a = arch(**{"digital.arbitration": policy, "digital.macs_per_cycle": 8, "digital.batch_cycles": 2})
        m = map_network(net, a)
        lat[policy] = simulate_timing(net, m, a, activity(net, m, 1, n=2), pipelined=True).latency_cycles
    serial = simulate_timing(net, m, a, activity(net, m, 1, n=2)).latency_cycles
    assert serial[0] <= lat["oldest_image"][0] < lat["fifo"][0]


# ---- one layer-step ------------------------------------------------------------------

def test_two_positions_on_one_replica_sense_back_to_back():
    net = chain(steps=1)
    m = map_network(net, arch())
    r = simulate_timing(net, m, arch(), activity(net, m, 2), trace=True)
    sense = {layer: (start, end) for layer, _, _, phase, start, end in r.trace if phase == "sense"}
    for name in ("l1", "l2", "l3"):
        start, end = sense[name]
        assert end - start == 2 * T_SENSE
    # l1: read 1 + sense 8 + update 1 + write 1 = 11; l2, l3 the same; out: read 1 + 2 MAC cycles + update 1
    assert r.latency_cycles.tolist() == [11 * 3 + 4]


def test_skipped_zero_chunk_costs_no_sensing_and_no_time():
    # l2's fan-in of 8 inputs on 4-column subarrays: 2 chunks per position
    net = Network.build((2, 4, 4), 2, Encoding(EncodingKind.THRESHOLD), [
        layer(Conv2d, "l1", INPUT, (8, 2, 1, 1)), layer(Conv2d, "l2", "l1", (4, 8, 1, 1)),
        Flatten("flat", "l2"), layer(Linear, "out", "flat", (2, 64), "int8", NeuronKind.READOUT)])
    a = arch(**{"subarray.columns": 4, "converter.bits": 3})
    m = map_network(net, a)
    assert m["l2"].chunks == 2
    both = simulate_timing(net, m, a, activity(net, m, {"l1": 3, "l2": 3}, {"l1": 3, "l2": 6}))
    one_skipped = simulate_timing(net, m, a, activity(net, m, {"l1": 3, "l2": 3}, {"l1": 3, "l2": 5}))
    n = m["l2"].out_features
    # one zero chunk of an active position: N fewer sensings per step, same time (chunks sense in parallel)
    assert both.actions["l2"]["sense_array"] - one_skipped.actions["l2"]["sense_array"] == 2 * n
    assert both.latency_cycles.tolist() == one_skipped.latency_cycles.tolist()
    # a position whose chunks are all zero is not sensed at all: one sensing phase less per step
    fewer = simulate_timing(net, m, a, activity(net, m, {"l1": 3, "l2": 2}, {"l1": 3, "l2": 4}), trace=True)
    assert both.latency_cycles[0] - fewer.latency_cycles[0] == 2 * T_SENSE
    # nothing active: no sense phase, no sensing
    idle = simulate_timing(net, m, a, activity(net, m, {"l1": 3, "l2": 0}, {"l1": 3, "l2": 0}), trace=True)
    assert idle.actions["l2"]["sense_array"] == 0 and idle.actions["l2"]["drive_bitlines"] == 0
    assert not [row for row in idle.trace if row[0] == "l2" and row[3] == "sense"]
    assert both.latency_cycles[0] - idle.latency_cycles[0] == 2 * 3 * T_SENSE


def test_full_spike_buffer_stalls_its_producer():
    """Buffers of exactly one step (64 bits). l1 (static input) is fast after t = 0 (update
    1 + write 1) and feeds l2 and, as a residual, l3. Every layer-step of l1/l2/l3 takes
    read 1 + sense 4 + update 1 + write 1 = 7 cycles; out takes 4.

    Unlimited: l1 ends t0..t3 at 7, 9, 11, 13; l2 at 14, 21, 28, 35; l3 at 21, 28, 35, 42;
    out at 25, 32, 39, 46 -> latency 46.
    One step per buffer: l1 may write step t into l3.res only after l3 has read step t-1.
    l1 waits 8 -> 15, 17 -> 24, 26 -> 33 (7 stall cycles each, 21 in all) and publishes at
    16, 25, 34; l2 then ends at 14, 23, 32, 41; l3 at 21, 30, 39, 48; out at 52: +6 cycles.
    """
    net = chain()
    m = map_network(net, arch())
    act = activity(net, m, 1)
    free = simulate_timing(net, m, arch(), act)
    small = arch(**{"buffer.capacity_bits": 64})
    tight = simulate_timing(net, map_network(net, small), small, act)
    assert free.latency_cycles.tolist() == [46] and sum(free.stalls.values()) == 0
    assert tight.latency_cycles.tolist() == [52]
    assert tight.stalls["buffer:l3.res"] == 21 and tight.stalls["buffer:l2.in"] == 0
    assert tight.step_finish["l1"].tolist() == [[7, 16, 25, 34]]
    assert tight.buffer_peak_bits["l3.res"] == 64
    assert closed_form_latency(net, m, arch(), act) == 46


def test_buffer_smaller_than_one_step_is_an_error():
    net = chain()
    small = arch(**{"buffer.width_bits": 32, "buffer.capacity_bits": 32})
    m = map_network(net, small)
    with pytest.raises(SimulationError, match="needs 64 bits for one time step"):
        simulate_timing(net, m, small, activity(net, m, 1))


def test_a_mapping_made_for_another_timing_record_is_refused():
    net = chain()
    m = map_network(net, arch())
    with pytest.raises(SimulationError, match="buffer_capacity_bits: 65536 vs 64"):
        simulate_timing(net, m, arch(**{"buffer.capacity_bits": 64}), activity(net, m, 1))


def wide_then_narrow(steps=3):
    """input (1,4,4) threshold spikes (16 bits) -> l1 binary 1x1 conv 1->16 (P = 16, static
    input; 256 output bits = 4 words) -> l2 binary 1x1 conv 16->4 (64 bits) -> flatten ->
    out int8 readout 64->2 (128 MACs = 2 cycles)."""
    return Network.build((1, 4, 4), steps, Encoding(EncodingKind.THRESHOLD), [
        layer(Conv2d, "l1", INPUT, (16, 1, 1, 1)),
        layer(Conv2d, "l2", "l1", (4, 16, 1, 1)),
        Flatten("flat", "l2"),
        layer(Linear, "out", "flat", (2, 64), "int8", NeuronKind.READOUT),
    ])


def test_one_buffer_port_granted_per_phase_serializes_a_read_and_the_next_write():
    """``buffer.port_grant = "phase"``. 256 update lanes: every update is 1 cycle. l1: t0 read 1 + sense 4 + update 1, writes
    4 words [6, 10]; t1, t2 (static input): update 1 + write 4. l2 reads 4 words, senses 4,
    updates 1 and writes 1 word: 10 cycles a step; out: read 1 + 2 MAC cycles + update 1.

    1R1W buffer: l1 writes step 1 at [11, 15], step 2 at [16, 20] (finishes 10, 15, 20);
    l2 runs [10, 20], [20, 30], [30, 40]; out ends at 44: latency 44.

    One shared port on l2.in: l2 reads step 0 at [10, 14], so l1 (ready at 11) writes step 1
    at [14, 18] (3 stall cycles); l1 then updates [18, 19] and writes step 2 at [19, 23],
    holding the port when l2 asks for it at 20 to read step 1 (3 stall cycles): l2 reads
    [23, 27] and ends at 33, then [33, 43]; out ends at 47: latency 47."""
    net = wide_then_narrow()
    runs = {}
    for sharing in ("separate", "shared"):
        a = arch(**{"buffer.port_sharing": sharing, "neuron.update_lanes": 256, "buffer.port_grant": "phase"})
        m = map_network(net, a)
        runs[sharing] = simulate_timing(net, m, a, activity(net, m, 1))
    two, one = runs["separate"], runs["shared"]
    assert two.step_finish["l1"].tolist() == [[10, 15, 20]] and two.stalls["buffer_port:l2.in"] == 0
    assert two.step_finish["l2"].tolist() == [[20, 30, 40]] and two.latency_cycles.tolist() == [44]
    assert one.step_finish["l1"].tolist() == [[10, 18, 23]] and one.stalls["buffer_port:l2.in"] == 6
    assert one.step_finish["l2"].tolist() == [[20, 33, 43]] and one.latency_cycles.tolist() == [47]
    assert closed_form_latency(net, map_network(net, arch(**{"neuron.update_lanes": 256})),
                               arch(**{"neuron.update_lanes": 256}), activity(net, m, 1)) == 44


def test_streaming_overlaps_the_phases_of_a_layer_step_by_hand():
    """Every position active (l1, l2: 16 each), 256 update lanes, 1R1W buffers.
    Store-and-forward: l1 t0 = read 1 + sense 64 + update 1 + write 4 = 70, then 5 a step;
    l2 = 4 + 64 + 1 + 1 = 70 a step; out = 1 + 2 + 1 = 4: l1 [0,70] [70,75] [75,80],
    l2 [70,140] [140,210] [210,280], out ends 284.
    Streaming, d = max_k (D_k + sum of the other phases' first items), first items: one
    word (1), one position (4), one update pass (1), one word (1): l1 t0 = max(1+6, 64+3,
    1+6, 4+6) = 67, then max(1+1, 4+1) = 5; l2 = max(4+6, 64+3, 1+9, 1+9) = 67; out =
    max(1+2, 2+2, 1+2) = 4. l1 [0,67] [67,72] [72,77], l2 [67,134] [134,201] [201,268],
    out ends 272."""
    net = wide_then_narrow()
    got = {}
    for mode in ("store_and_forward", "streaming"):
        a = arch(**{"chip.layer_step": mode, "neuron.update_lanes": 256})
        m = map_network(net, a)
        act = activity(net, m, 16)
        r = simulate_timing(net, m, a, act)
        got[mode] = (r.step_finish["l1"].tolist(), r.step_finish["l2"].tolist(), r.latency_cycles.tolist())
        assert r.latency_cycles.tolist() == [closed_form_latency(net, m, a, act)]
    assert got["store_and_forward"] == ([[70, 75, 80]], [[140, 210, 280]], [284])
    assert got["streaming"] == ([[67, 72, 77]], [[134, 201, 268]], [272])
    # one shared port granted per phase: l1's step-1 write (asked at 68) waits for l2's
    # read of step 0 ([67, 71]): 3 cycles, [71, 75]
    a = arch(**{"chip.layer_step": "streaming", "neuron.update_lanes": 256, "buffer.port_sharing": "shared",
                "buffer.port_grant": "phase"})
    m = map_network(net, a)
    shared = simulate_timing(net, m, a, activity(net, m, 16))
    assert shared.step_finish["l1"].tolist() == [[67, 75, 80]] and shared.stalls["buffer_port:l2.in"] == 3
    assert shared.latency_cycles.tolist() == [272]
    # granted per word: l2's read (4 words from 67) and l1's write (4 words from 68)
    # alternate: read 67, write 68, read 69, write 70, read 71, write 72, read 73 (ends
    # 74, 3 cycles late), write 74 (ends 75, 3 late): l1 still ends step 1 at 75; l2's
    # core does not wait for its last word (items flow evenly), so latency stays 272
    a = a.replace(**{"buffer.port_grant": "word"})
    m = map_network(net, a)  # the grant is part of the timing record the mapping is made for
    word = simulate_timing(net, m, a, activity(net, m, 16))
    assert word.step_finish["l1"].tolist() == [[67, 75, 80]] and word.stalls["buffer_port:l2.in"] == 6
    assert word.step_finish["l2"].tolist() == shared.step_finish["l2"].tolist() and word.latency_cycles.tolist() == [272]


def test_word_grant_interleaves_a_read_and_the_next_write_by_hand():
    """wide_then_narrow, T = 2, one active position, 256 update lanes, one shared port on
    l2.in (a 4-word step). l1 t0: read 1 + sense 4 + update 1 + write [6, 10]; t1: update
    [10, 11], write 4 words asked at 11. l2 t0 reads 4 words asked at 10.

    Per phase: l2 holds the port [10, 14]; l1 writes [14, 18] (waits 3). l2: sense
    [14, 18], update, write 1 word: ends 20; t1 reads [20, 24] ... ends 30; out ends 34.

    Per word (round-robin, one access per grant): 10 read (alone), 11 write (the read was
    granted last), 12 read, 13 write, 14 read, 15 write, 16 read: the read ends at 17
    (waited 3), then 17 write: ends 18 (waited 3). l1 still ends t1 at 18, but l2 t0
    now senses [17, 21] and ends 23; t1 reads [23, 27] alone, ends 33; out ends 37.
    Fairness costs this latency 3 cycles: the write that arrives second ends at 18
    either way, the read that came first ends 3 cycles later."""
    net = wide_then_narrow(steps=2)
    got = {}
    for grant in ("phase", "word"):
        a = arch(**{"buffer.port_sharing": "shared", "neuron.update_lanes": 256, "buffer.port_grant": grant})
        m = map_network(net, a)
        r = simulate_timing(net, m, a, activity(net, m, 1))
        got[grant] = (r.step_finish["l1"].tolist(), r.step_finish["l2"].tolist(), r.latency_cycles.tolist(),
                      r.stalls["buffer_port:l2.in"])
    assert got["phase"] == ([[10, 18]], [[20, 30]], [34], 3)
    assert got["word"] == ([[10, 18]], [[23, 33]], [37], 6)


def residual_block(steps=2):
    """input (1,4,4) rate-coded spikes (16 bits, read every step) -> l1 binary 1x1 conv
    1->4 (64 bits = 1 word) -> l2 binary 1x1 conv 4->16 (256 bits = 4 words) -> l3 binary
    1x1 conv 16->4 + residual l1 (reads 4 + 1 words) -> flatten -> out int8 readout 64->2."""
    return Network.build((1, 4, 4), steps, Encoding(EncodingKind.RATE), [
        layer(Conv2d, "l1", INPUT, (4, 1, 1, 1)),
        layer(Conv2d, "l2", "l1", (16, 4, 1, 1)),
        layer(Conv2d, "l3", "l2", (4, 16, 1, 1), residual="l1"),
        Flatten("flat", "l3"),
        layer(Linear, "out", "flat", (2, 64), "int8", NeuronKind.READOUT),
    ])


def test_word_grant_frees_a_port_that_a_phase_holds_without_using_it_by_hand():
    """residual_block, T = 2, shared ports, 256 update lanes; l1 senses one position
    (4 cycles), l2 and l3 none. Steps: l1 = read 1 + 4 + update 1 + write 1 word (to
    l2.in and l3.res) = 7; l2 = read 1 + update 1 + write 4 = 6; l3 = read max(4, 1) +
    update 1 + write 1 = 6; out = read 1 + 2 MAC cycles + update 1 = 4.
    l1 t0 [0, 7]; l2 t0 [7, 13]. At 13 l1 asks to write step 1 (l2.in, l3.res) and l3
    asks to read step 0 (l3.in: 4 words, l3.res: 1 word).

    Per phase: l1 takes l2.in and l3.res at 13 and writes [13, 14]; l3 takes l3.in, then
    waits for l3.res (1 cycle) while holding l3.in, reads [14, 18] holding both, ends 20.
    l2 t1 (step 1 published at 14) reads [14, 15], updates, asks for l3.in at 16 and waits
    for l3's read to let go at 18 (2 cycles): writes [18, 22]. l3 t1 reads [22, 26], ends
    28; out ends 32. Port stalls: l3.res 1, l3.in 2.

    Per word: l3.res at 13: its last grant was l1's step-0 write, so l3's read goes
    first: read 13, write 14 (l1's write ends 15, waited 1); l2.in: write 13 alone. l1
    ends t1 at 15. l3.in: l3 reads 13..16 alone, ends 17. l2 t1 (step 1 at 15) reads 15,
    updates, writes l3.in from 17 alone: [17, 21]. l3 t0 ends 19, t1 reads [21, 25],
    ends 27; out ends 31 -- one cycle sooner. Port stall: l3.res 1."""
    net = residual_block()
    got = {}
    for grant in ("phase", "word"):
        a = arch(**{"buffer.port_sharing": "shared", "neuron.update_lanes": 256, "buffer.port_grant": grant})
        m = map_network(net, a)
        r = simulate_timing(net, m, a, activity(net, m, {"l1": 1, "l2": 0, "l3": 0}))
        got[grant] = ([r.step_finish[k].tolist()[0] for k in ("l1", "l2", "l3", "out")], r.latency_cycles.tolist(),
                      {k: v for k, v in r.stalls.items() if v})
    assert got["phase"] == ([[7, 14], [13, 22], [20, 28], [24, 32]], [32],
                            {"buffer_port:l3.in": 2, "buffer_port:l3.res": 1})
    assert got["word"] == ([[7, 15], [13, 21], [19, 27], [23, 31]], [31], {"buffer_port:l3.res": 1})


@pytest.mark.parametrize("net, positions, latency", [(chain(), 4, 118), (wide_then_narrow(), 4, 95),
                                                     (residual_block(3), 4, 120)])
def test_shared_ports_that_never_meet_give_the_closed_form_under_either_grant(net, positions, latency):
    """Four active positions in every in-memory layer: each read of a shared buffer ends
    before the producer's next write begins, so no request ever waits and both grants give
    the contention-free max-plus latency of timing/closed_form.py."""
    for grant in ("phase", "word"):
        a = arch(**{"buffer.port_sharing": "shared", "buffer.port_grant": grant})
        m = map_network(net, a)
        act = activity(net, m, positions)
        r = simulate_timing(net, m, a, act)
        assert sum(r.stalls.values()) == 0
        assert r.latency_cycles.tolist() == [closed_form_latency(net, m, a, act)] == [latency]


@pytest.mark.parametrize("layer_step", ["store_and_forward", "streaming"])
def test_separate_ports_do_not_depend_on_the_grant(layer_step):
    """A 1R1W buffer has one requester per port: word and phase grants time it alike."""
    net = residual_block(steps=3)
    runs = []
    for grant in ("phase", "word"):
        a = arch(**{"neuron.update_lanes": 16, "buffer.port_grant": grant, "chip.layer_step": layer_step})
        m = map_network(net, a)
        r = simulate_timing(net, m, a, Activity.random(net, m, 4, seed=5), pipelined=True)
        runs.append((r.latency_cycles.tolist(), r.total_cycles, {k: v.tolist() for k, v in r.step_finish.items()},
                     r.stalls, r.action_totals))
    assert runs[0] == runs[1]
    assert all(v == 0 for k, v in runs[0][3].items() if k.startswith("buffer_port:"))


def test_word_grant_is_deterministic():
    net = tiny_network(seed=2, encoding="rate")
    a = arch(**{"buffer.port_sharing": "shared", "buffer.port_grant": "word", "chip.replication": "fill"})
    m = map_network(net, a)
    act = Activity.random(net, m, 5, seed=9)
    one, two = (simulate_timing(net, m, a, act, pipelined=True) for _ in range(2))
    assert one.latency_cycles.tolist() == two.latency_cycles.tolist() and one.stalls == two.stalls
    assert one.events == two.events and one.action_totals == two.action_totals


# ---- images, pipelining, counts ----------------------------------------------------------

def test_images_one_at_a_time_each_equal_the_closed_form_and_pipelining_overlaps():
    net = tiny_network(encoding="direct")
    m = map_network(net, arch(**{"chip.replication": "fill"}))
    act = Activity.random(net, m, 6, seed=3)
    a = arch(**{"chip.replication": "fill"})
    serial = simulate_timing(net, m, a, act)
    assert serial.latency_cycles.tolist() == [closed_form_latency(net, m, a, act, i) for i in range(6)]
    assert serial.total_cycles == serial.latency_cycles.sum()
    piped = simulate_timing(net, m, a, act, pipelined=True)
    assert piped.total_cycles < serial.total_cycles and piped.throughput_ips > serial.throughput_ips
    dynamic = lambda r: {a: r.action_totals[a] for a in DYNAMIC_ACTIONS}  # noqa: E731
    assert dynamic(piped) == dynamic(serial)  # leakage block-cycles follow the shorter run
    assert piped.action_totals["leak_subarray_cycle"] == m.subarrays_used * piped.total_cycles
    # the first layer of image k+1 and the readout of image k now share the digital unit
    assert piped.stalls["digital_unit"] > 0 and (piped.latency_cycles >= serial.latency_cycles).all()
    two = simulate_timing(net, m, a, act, images=[4, 1])
    assert two.latency_cycles.tolist() == [serial.latency_cycles[4], serial.latency_cycles[1]]
    stats = serial.latency_stats()
    assert stats["latency_p50_ns"] == stats["latency_p50_cycles"] * 0.5
    assert "images/s" in serial.report()


def test_static_first_layer_computes_its_macs_once_per_image():
    net = tiny_network(encoding="direct")  # conv1: int8 over pixels, 36 positions x 4 x 9
    m = map_network(net, arch())
    r = simulate_timing(net, m, arch(), Activity.random(net, m, 3))
    assert r.actions["conv1"]["digital_mac"] == 3 * 36 * 4 * 9
    assert r.actions["out"]["digital_mac"] == 3 * net.time_steps * 3 * 5
    assert r.actions["conv1"]["buffer_read_bit"] == 3 * 36 * 8  # pixels read once per image


def test_action_counts_follow_activity_exactly():
    net = tiny_network(encoding="rate")  # conv1 digital every step; conv2, fc1 in memory
    m = map_network(net, arch())
    rng = np.random.default_rng(1)
    steps = net.time_steps
    pos = {"conv2": rng.integers(0, 19, (2, steps)), "fc1": rng.integers(0, 2, (2, steps))}
    chunks = {k: v.copy() for k, v in pos.items()}
    spikes = {"conv1": rng.integers(0, 70, (2, steps)), "conv2": rng.integers(0, 70, (2, steps)),
              "fc1": rng.integers(0, 3, (2, steps))}
    r = simulate_timing(net, m, arch(), Activity.from_dicts(pos, chunks, spikes))
    # conv2: 4 neurons on 4 one-row subarrays; fc1: 5 neurons
    assert r.actions["conv2"]["sense_array"] == 4 * chunks["conv2"].sum()
    assert r.actions["conv2"]["drive_bitlines"] == 4 * chunks["conv2"].sum()
    assert r.actions["fc1"]["convert"] == 5 * chunks["fc1"].sum()
    assert r.actions["fc1"]["neuron_add"] == 5 * chunks["fc1"].sum()
    for name in spikes:
        assert r.actions[name]["neuron_fire"] == spikes[name].sum()
    assert r.actions["conv1"]["digital_mac"] == 2 * steps * 36 * 4 * 9
    assert r.actions["conv2"]["buffer_write_bit"] == 2 * steps * 36  # pooled 4x3x3 bitmap into fc1's buffer
    assert r.action_totals == {a: sum(r.actions[k][a] for k in r.actions) for a in ACTIONS}
    doubled = Activity.from_dicts({k: 2 * v for k, v in pos.items()} | {"fc1": pos["fc1"]},
                                  {k: 2 * v for k, v in chunks.items()} | {"fc1": chunks["fc1"]},
                                  {k: 2 * v for k, v in spikes.items()})
    r2 = simulate_timing(net, m, arch(), doubled)
    assert r2.actions["conv2"]["sense_array"] == 2 * r.actions["conv2"]["sense_array"]
    assert r2.actions["conv1"]["neuron_fire"] == 2 * r.actions["conv1"]["neuron_fire"]
    assert r2.actions["conv1"]["digital_mac"] == r.actions["conv1"]["digital_mac"]


def test_without_skipping_every_position_and_chunk_counts():
    net = tiny_network()
    a = arch(**{"sensing.skip_zero_chunks": False})
    m = map_network(net, a)
    r = simulate_timing(net, m, a, activity(net, m, 0, spikes=1, n=2))
    steps = net.time_steps
    assert r.actions["conv2"]["sense_array"] == 2 * steps * 36 * 4
    assert r.actions["fc1"]["sense_array"] == 2 * steps * 5


def test_bad_activity_is_rejected():
    net = tiny_network()
    m = map_network(net, arch())
    with pytest.raises(SimulationError, match="active_positions\\['conv2'\\] = 37 exceeds"):
        simulate_timing(net, m, arch(), activity(net, m, {"conv2": 37, "fc1": 1}))
    with pytest.raises(SimulationError, match="no entry for layer 'fc1'"):
        ones = np.ones((1, 4), int)
        simulate_timing(net, m, arch(), Activity.from_dicts({"conv2": ones}, {"conv2": ones},
                                                            {"conv1": ones, "conv2": ones, "fc1": ones}))


# ---- closed form (hypothesis) -------------------------------------------------------------

NETS = {enc: tiny_network(seed=2, encoding=enc) for enc in ("direct", "threshold", "rate")}
NETS["binary-first"] = tiny_network(seed=2, encoding="threshold", first_precision="binary")
NETS["chain"] = chain()


@st.composite
def scenario(draw):
    key = draw(st.sampled_from(sorted(NETS)))
    net = NETS[key]
    a = arch(**{"chip.replication": draw(st.sampled_from(["none", "fill"])),
                "chip.subarrays": draw(st.sampled_from([256, 4096])),
                "subarray.rows": draw(st.sampled_from([1, 2, 4])),
                "subarray.columns": draw(st.sampled_from([4, 16, 288])),
                "converter.bits": 9,
                "buffer.width_bits": draw(st.sampled_from([8, 64])),
                "buffer.ports": draw(st.integers(1, 2)),
                "buffer.port_sharing": draw(st.sampled_from(["separate", "shared"])),
                "buffer.port_grant": draw(st.sampled_from(["word", "phase"])),
                "chip.layer_step": draw(st.sampled_from(["store_and_forward", "streaming"])),
                "buffer.t_access_ns": draw(st.sampled_from([0.5, 1.0])),
                "neuron.t_update_ns": draw(st.sampled_from([0.0, 0.5, 1.5])),
                "digital.macs_per_cycle": draw(st.sampled_from([1, 16, 64])),
                "sensing.skip_zero_chunks": draw(st.booleans())})
    a = a.replace(**{"subarray.rows_per_phase": draw(st.integers(1, a.subarray.rows))})
    m = map_network(net, a)
    steps, pos, chunks, spikes = net.time_steps, {}, {}, {}
    for lm in m.layers:
        if lm.in_memory:
            p = np.array(draw(st.lists(st.integers(0, lm.positions), min_size=steps, max_size=steps)))
            extra = np.array([draw(st.integers(0, int(v) * (lm.chunks - 1))) for v in p])
            pos[lm.name], chunks[lm.name] = p[None], (p + extra)[None]
        if not lm.kind.startswith("readout"):
            spikes[lm.name] = np.array(draw(st.lists(st.integers(0, lm.positions * lm.out_features),
                                                     min_size=steps, max_size=steps)))[None]
    return net, m, a, Activity.from_dicts(pos, chunks, spikes)


@settings(max_examples=60, deadline=None)
@given(scenario())
def test_engine_equals_closed_form_without_contention(case):
    net, m, a, act = case
    r = simulate_timing(net, m, a, act)
    expected = closed_form_latency(net, m, a, act)
    if sum(r.stalls.values()) == 0:
        assert r.latency_cycles.tolist() == [expected]
    else:  # contention (the digital unit shared by a rate-coded first layer and the readout)
        assert r.latency_cycles[0] >= expected
    assert r.stalls.get("digital_unit", 0) == 0 or net.encoding.kind is EncodingKind.RATE


def test_action_names_match_the_energy_table():
    from bsnn_sim import energy
    assert set(ACTIONS) == set(energy.ACTIONS)
