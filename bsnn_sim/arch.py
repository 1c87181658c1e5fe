"""Architecture configs: the STT-MRAM in-memory hardware a network is simulated on.

A config is a TOML file of named sections (see ``arch_configs/stt_bsnn_65nm.toml``,
which carries the source of every default; ``docs/calibration.md`` derives the energy
defaults). Loading validates every key against its unit, range and physical reason in
:data:`bsnn_sim.limits.LIMITS` (``docs/config-reference.md`` lists them), then the
limits across keys and the derived figures; every error is one line naming the file,
the key, the value and what is allowed. It returns a frozen :class:`ArchConfig`.
Units live in key names (``_ns``, ``_ohm``, ``_pj`` ...). Keys a file leaves out take
the defaults below and are listed in ``ArchConfig.defaults_used``.

Times are given in ns and converted once, here, to integer clock cycles
(:meth:`ArchConfig.cycles`), with an error if the conversion would round by more than
0.1 %; the timing engine sees only cycles.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigError, shown
from .limits import LIMITS, MAX_CHIP_AREA_MM2, Limit
from .tomlfile import read_toml


@dataclass(frozen=True)
class Technology:
    node_nm: float = 65.0  # CMOS node
    vdd_v: float = 1.0  # digital supply
    t_clk_ns: float = 0.5  # clock period: every phase is a whole number of cycles
    temperature_k: float = 300.0  # die temperature: TMR, thermal noise (docs/variation.md)


@dataclass(frozen=True)
class MTJ:
    r_p_ohm: float = 4000.0  # parallel-state resistance (bias-independent here); RA ~5 Ohm um^2 at 40 nm
    tmr_pct: float = 150.0  # zero-bias tunnel magnetoresistance, R_AP = R_P * (1 + TMR)
    v_half_v: float = 0.5  # bias at which the TMR halves: TMR(V) = TMR0 / (1 + (V / v_half)^2)
    diameter_nm: float = 40.0
    tmr_temp_coeff_per_k: float = 0.002  # TMR0(T) = TMR0 * (1 - c (T - 300 K)): TMR falls with temperature
    sigma_r_rel: float = 0.05  # local (cell-to-cell) spread of R_P: sigma of ln R_P
    sigma_r_global_rel: float = 0.02  # global (die-to-die) spread of R_P: sigma of ln R_P, one draw per chip
    sigma_tmr_rel: float = 0.05  # local relative spread of the TMR (normal)
    sigma_tmr_global_rel: float = 0.02  # global relative spread of the TMR, one draw per chip


@dataclass(frozen=True)
class Access:
    r_on_ohm: float = 1000.0  # access transistor on-resistance
    sigma_r_rel: float = 0.05  # local spread of the on-resistance: sigma of ln R_on
    sigma_r_global_rel: float = 0.02  # global spread of the on-resistance, one draw per chip


@dataclass(frozen=True)
class Cell:
    area_f2: float = 150.0  # 2T-2MTJ differential cell area in F^2 (F = node); two ~1 um wide access FETs
    c_bl_ff: float = 1.0  # capacitance one cell adds to each of its BL and BLB (junction + wire pitch)
    c_wl_ff: float = 2.2  # capacitance one cell adds to its word line (two access-FET gates + wire pitch)
    p_write_error: float = 1e-6  # per MTJ: programming leaves it in the opposite state (static)
    p_stuck: float = 0.0  # per MTJ: stuck at P or AP (half each) whatever is written (static)
    p_read_disturb: float = 0.0  # per MTJ per sensing of its row: an AP MTJ flips to P and stays


@dataclass(frozen=True)
class Subarray:
    rows: int = 1  # neurons (weight rows) per subarray
    columns: int = 288  # synapses per row: the fan-in chunk sensed at once
    rows_per_phase: int = 1  # rows sensed in parallel in one phase (each has a converter)
    v_read_v: float = 0.3  # bit-line drive voltage of a sensing
    c_bitline_ff: float = 11.0  # fixed capacitance of one bit line (BL or BLB): driver output + routing;
    # the line's total is c_bitline_ff + rows * cell.c_bl_ff
    driver_area_um2_per_column: float = 17.0  # spike latch + BL and BLB drivers of one column
    r_sl_ohm_per_cell: float = 0.0  # source-line wire resistance per cell pitch (0: an ideal node)


@dataclass(frozen=True)
class Sensing:
    t_drive_ns: float = 0.5  # drive BL/BLB from the spike latches
    t_settle_ns: float = 1.0  # source-line voltage settles; array current flows
    t_latch_ns: float = 0.5  # converter latches, neuron adds the partial sum
    skip_zero_chunks: bool = True  # an all-zero input chunk is not sensed (I = 0 exactly)
    hold_through_latch: bool = True  # bit lines driven until the latch ends (False: released once sampled)
    c_sl_ff_per_column: float = 1.0  # source-line node: one cell's two access-FET sources (+ converter.c_sample_ff)


@dataclass(frozen=True)
class Converter:
    kind: str = "adc"  # "adc": N-bit ADC over a voltage range | "time": V_SL -> delay, counted by a clock
    bits: int = 9  # output code width (ADC resolution, or the time counter's width)
    range_fraction: float = 1.0  # ADC input range: this fraction of the row's 0..n counts, centred on n/2
    fom_fj_per_step: float = 2.2  # Walden FoM at low speed; energy = FoM(f_s) * 2**bits (docs/variation.md)
    f_corner_mhz: float = 100.0  # Nyquist rate above which the FoM envelope rises 10x per decade
    offset_sigma_mv: float = 5.0  # static offset (one draw per physical converter)
    noise_sigma_mv: float = 0.3  # thermal noise per conversion (input referred)
    c_sample_ff: float = 500.0  # sampling capacitor: kT/C noise per conversion
    delay_ns_per_mv: float = 0.16  # time kind: delay slope of the V_SL -> delay stage
    t_count_ns: float = 0.0625  # time kind: counter clock period (the time LSB)
    e_delay_fj: float = 100.0  # time kind: delay stage energy per conversion
    e_count_fj: float = 5.0  # time kind: counter energy per counted clock
    area_um2: float = 1200.0  # compact 9-bit SAR: CDAC + comparator + SAR logic


@dataclass(frozen=True)
class Neuron:
    acc_bits: int = 16  # membrane / partial-sum accumulator width
    e_add_pj: float = 0.09  # one accumulate of a partial sum (one acc_bits-wide addition)
    e_update_pj: float = 0.18  # per neuron per step: bias subtraction and threshold compare (two additions)
    e_fire_pj: float = 0.09  # one output spike: reset by subtraction U -= theta' (one acc_bits-wide addition)
    t_update_ns: float = 0.5  # one pass of the update lanes over acc_bits-wide membranes
    area_um2: float = 400.0  # one row accumulator: 16-bit adder + bias and threshold registers
    update_lanes: int = 64  # neurons updated per t_update by one layer's neuron array
    state_storage: str = "sram"  # where membranes live: "sram" (buffer.* costs) | "register"
    reg_e_read_pj_per_bit: float = 0.005  # register file: read one bit (mux)
    reg_e_write_pj_per_bit: float = 0.01  # register file: write one bit (flip-flop clock + data)
    reg_area_um2_per_bit: float = 5.5  # one flip-flop
    reg_p_leak_pw_per_bit: float = 50.0  # one flip-flop


@dataclass(frozen=True)
class Buffer:
    capacity_bits: int = 65536  # inter-layer spike buffer size
    width_bits: int = 64  # one read or write moves this many spikes
    ports: int = 1  # words moved per access (ports of the buffer SRAM)
    port_sharing: str = "shared"  # "shared": reads and writes use the same ports | "separate": 1R1W SRAM
    port_grant: str = "word"  # shared ports granted per access, round-robin | "phase": per whole access phase
    t_access_ns: float = 0.5
    e_read_pj_per_bit: float = 0.1  # 8 KB SRAM scratchpad at 65 nm
    e_write_pj_per_bit: float = 0.12
    area_um2_per_bit: float = 1.0  # 6T cell ~0.5 um^2 at ~50 % array efficiency
    p_leak_pw_per_bit: float = 20.0  # 6T cell leakage, low-power process


@dataclass(frozen=True)
class Digital:
    """Unit for the non-binary first and last layers (int8 weights, uint8 pixels)."""

    macs_per_cycle: int = 64
    arbitration: str = "fifo"  # shared unit: "fifo" (first come) | "oldest_image" (lowest image, then earliest layer)
    batch_cycles: int = 0  # requests of at most this many cycles (0: a whole compute phase)
    e_weight_read_pj_per_bit: float = 0.1  # weight memory (SRAM, sized to the digital layers' int8 weights)
    weight_area_um2_per_bit: float = 1.0
    weight_p_leak_pw_per_bit: float = 20.0
    skip_zero_inputs: bool = False  # event-driven: multiply only nonzero pixels and spikes
    e_mac_pj: float = 0.45  # one 8x8-bit multiply + accumulate at 65 nm
    area_um2: float = 50000.0  # 64 MACs of ~700 um^2 + control
    p_leak_uw: float = 50.0  # ~50k gate equivalents x ~1 nA at 1.0 V
    acc_bits: int = 32  # accumulator / membrane width of the digital layers' neurons


@dataclass(frozen=True)
class Chip:
    subarrays: int = 4096  # in-memory subarrays available on the chip
    replication: str = "bottleneck"  # "none" | "bottleneck" | "fill" (see bsnn_sim/mapping.py)
    subarray_budget: int = 0  # subarrays the replication may use in all; 0: chip.subarrays
    layer_step: str = "store_and_forward"  # | "streaming": read, sense, update, write overlap by items
    c_wire_ff_per_um: float = 0.2  # global wire capacitance (data movement across the chip)
    wire_activity: float = 0.5  # fraction of moved bits that toggle their wire
    p_leak_uw_per_subarray: float = 1.0  # peripheral leakage of one subarray
    periphery_area_um2_per_subarray: float = 400.0  # word-line driver, SL switch, control (drivers: subarray)


@dataclass(frozen=True)
class Driver:
    """Column pre-drivers and spike latches: they switch at VDD for every chunk driven."""

    w_pullup_um: float = 6.0  # bit-line pull-up NMOS width (the driver of subarray.c_bitline_ff)
    w_pulldown_um: float = 3.3  # bit-line pull-down NMOS width
    c_gate_ff_per_um: float = 1.0  # gate capacitance per um of width
    c_latch_ff: float = 2.0  # spike latch: clock and data load switched per chunk


@dataclass(frozen=True)
class Supply:
    """Generation of the read rail V_rd from VDD."""

    read_regulator: str = "ldo"  # "ldo": efficiency V_rd / VDD | "switched": switched_efficiency | "ideal": not counted
    switched_efficiency: float = 0.85


SECTIONS = {
    "technology": Technology, "mtj": MTJ, "access": Access, "cell": Cell, "subarray": Subarray,
    "sensing": Sensing, "converter": Converter, "neuron": Neuron, "buffer": Buffer,
    "digital": Digital, "chip": Chip, "driver": Driver, "supply": Supply,
}


@dataclass(frozen=True)
class ArchConfig:
    name: str = "default"
    description: str = ""
    path: Path | None = None
    technology: Technology = field(default_factory=Technology)
    mtj: MTJ = field(default_factory=MTJ)
    access: Access = field(default_factory=Access)
    cell: Cell = field(default_factory=Cell)
    subarray: Subarray = field(default_factory=Subarray)
    sensing: Sensing = field(default_factory=Sensing)
    converter: Converter = field(default_factory=Converter)
    neuron: Neuron = field(default_factory=Neuron)
    buffer: Buffer = field(default_factory=Buffer)
    digital: Digital = field(default_factory=Digital)
    chip: Chip = field(default_factory=Chip)
    driver: Driver = field(default_factory=Driver)
    supply: Supply = field(default_factory=Supply)
    # "section.key" of every key the file left out (they hold the defaults above)
    defaults_used: tuple[str, ...] = field(default=(), compare=False)

    @property
    def source(self) -> str:
        """The file this config came from (or its name): the prefix of its error messages."""
        return str(self.path) if self.path else self.name

    def cycles(self, t_ns: float, what: str = "time") -> int:
        """``t_ns`` in whole clock cycles; an error if that rounds by more than 0.1 %."""
        c = t_ns / self.technology.t_clk_ns
        if not math.isfinite(c) or c > 2**53:
            raise ConfigError(f"{self.source}: {what} = {t_ns} ns is {c:g} clock cycles of "
                              f"technology.t_clk_ns = {self.technology.t_clk_ns} ns: too many to count")
        n = round(c)
        if n < 0 or (c > 0 and abs(n - c) > 1e-3 * c):
            raise ConfigError(f"{self.source}: {what} = {t_ns} ns is not a whole number (>= 1) of "
                              f"technology.t_clk_ns = {self.technology.t_clk_ns} ns clock cycles")
        return int(n)

    @property
    def t_sense_cycles(self) -> int:
        """One sensing phase: drive + settle + latch, in cycles."""
        s = self.sensing
        return (self.cycles(s.t_drive_ns, "sensing.t_drive_ns") + self.cycles(s.t_settle_ns, "sensing.t_settle_ns")
                + self.cycles(s.t_latch_ns, "sensing.t_latch_ns"))

    def to_dict(self) -> dict:
        """The resolved config as plain TOML-able data (for results and reports)."""
        out = {"name": self.name, "description": self.description}
        for sec in SECTIONS:
            out[sec] = dataclasses.asdict(getattr(self, sec))
        return out

    def to_toml(self) -> str:
        """The resolved config as TOML text (loads back to an equal config)."""
        def value(v):
            return ("true" if v else "false") if isinstance(v, bool) else json.dumps(v)

        lines = [f"name = {value(self.name)}", f"description = {value(self.description)}"]
        for sec, table in self.to_dict().items():
            if isinstance(table, dict):
                lines += ["", f"[{sec}]"] + [f"{k} = {value(v)}" for k, v in table.items()]
        return "\n".join(lines) + "\n"

    def replace(self, **overrides) -> "ArchConfig":
        """A new config with ``{"section.key": value}`` overrides, validated like a file."""
        data = self.to_dict()
        for dotted, value in overrides.items():
            sec, _, key = dotted.partition(".")
            if sec not in SECTIONS or not key:
                raise ConfigError(f"override {dotted!r}: expected SECTION.KEY with SECTION one of {', '.join(SECTIONS)}")
            data[sec][key] = value
        left = tuple(k for k in self.defaults_used if k not in overrides)
        return dataclasses.replace(from_dict(data, self.path), defaults_used=left)


def _typed(src: str, key: str, value, lim: Limit):
    """``value`` as ``lim.kind`` (an integer is accepted for a float), or a ConfigError."""
    kind = lim.kind
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        try:
            value = float(value)
        except OverflowError:
            raise ConfigError(f"{src}: {key} = {shown(value)}: too large; allowed {lim.allowed()} "
                              f"{lim.unit}") from None
    if type(value) is not kind:
        expected = {float: "a number", int: "an integer", bool: "true or false", str: "a string"}[kind]
        allowed = "" if kind is bool else f"; allowed {lim.allowed()}" + ("" if lim.unit == "-" else f" {lim.unit}")
        raise ConfigError(f"{src}: {key} = {shown(value)}: expected {expected}{allowed}")
    problem = lim.problem(value)
    if problem:
        raise ConfigError(f"{src}: {key} = {shown(value)}: {problem}; allowed {lim.allowed()}"
                          + ("" if lim.unit == "-" else f" {lim.unit}") + f" ({lim.why})")
    return value


def from_dict(data: dict, path: Path | None = None) -> ArchConfig:
    """Validate plain data (as parsed from TOML) into an :class:`ArchConfig`.

    Every key is checked against its entry in :data:`bsnn_sim.limits.LIMITS` (type,
    range), then the limits across keys (:func:`_check`) and the derived figures
    (finite, positive). Keys left out take the defaults of the section dataclasses;
    the config lists them in ``defaults_used``.
    """
    src = str(path) if path else "<config>"
    if not isinstance(data, dict):
        raise ConfigError(f"{src}: expected a TOML table of sections, got {shown(data)}")
    allowed = {"name", "description", *SECTIONS}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ConfigError(f"{src}: {unknown[0]} = {shown(data[unknown[0]])}: unknown key; "
                          f"allowed: {', '.join(sorted(allowed))}")
    for key in ("name", "description"):
        if key in data and not isinstance(data[key], str):
            raise ConfigError(f"{src}: {key} = {shown(data[key])}: expected a string")
    if "name" in data and not (data["name"].strip() and data["name"].isprintable()):
        raise ConfigError(f"{src}: name = {shown(data['name'])}: expected a non-empty name of printable characters")
    sections, left_out = {}, []
    for sec, cls in SECTIONS.items():
        table = data.get(sec, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{src}: {sec} = {shown(table)}: expected a table [{sec}]")
        names = [f.name for f in dataclasses.fields(cls)]
        bad = sorted(set(table) - set(names))
        if bad:
            raise ConfigError(f"{src}: {sec}.{bad[0]} = {shown(table[bad[0]])}: unknown key; "
                              f"allowed: {', '.join(sorted(names))}")
        values = {k: _typed(src, f"{sec}.{k}", v, limit_of(sec, k)) for k, v in table.items()}
        left_out += [f"{sec}.{k}" for k in names if k not in table]
        sections[sec] = cls(**values)
    cfg = ArchConfig(name=data.get("name", Path(src).stem), description=data.get("description", ""),
                     path=path, defaults_used=tuple(left_out), **sections)
    _check(cfg, src)
    return cfg


def limit_of(section: str, key: str) -> Limit:
    """The :class:`~bsnn_sim.limits.Limit` of ``section.key`` (a missing entry is a bug)."""
    try:
        return LIMITS[f"{section}.{key}"]
    except KeyError:
        raise KeyError(f"{section}.{key} has no entry in bsnn_sim.limits.LIMITS: give it a range there") from None


def _check(cfg: ArchConfig, src: str):
    """Limits across keys, then the derived figures (each key is in range already)."""
    def need(cond, key, value, allowed):
        if not cond:
            raise ConfigError(f"{src}: {key} = {shown(value)}: {allowed}")

    s, tech, c = cfg.subarray, cfg.technology, cfg.converter
    need(s.rows_per_phase <= s.rows, "subarray.rows_per_phase", s.rows_per_phase,
         f"allowed 1 <= x <= subarray.rows ({s.rows})")
    need(s.v_read_v < tech.vdd_v, "subarray.v_read_v", s.v_read_v,
         f"must be below technology.vdd_v = {tech.vdd_v} V (the bit-line drivers run from VDD)")
    from .analog.devices import tmr0  # it imports this module

    tmr_pct = 100.0 * tmr0(cfg)
    need(tmr_pct >= LIMITS["mtj.tmr_pct"].lo, "mtj.tmr_temp_coeff_per_k", cfg.mtj.tmr_temp_coeff_per_k,
         f"at technology.temperature_k = {tech.temperature_k} K the TMR (mtj.tmr_pct * (1 - c (T - 300 K)) "
         f"= {tmr_pct:.4g} %) falls below {LIMITS['mtj.tmr_pct'].lo} %: no signal")
    if c.kind == "time":
        t_phase = cfg.sensing.t_drive_ns + cfg.sensing.t_settle_ns + cfg.sensing.t_latch_ns
        need(2 ** c.bits * c.t_count_ns <= t_phase, "converter.t_count_ns", c.t_count_ns,
             f"2**converter.bits * t_count_ns must fit one sensing phase ({t_phase} ns): the counter "
             "counts full scale within the phase")
    need(cfg.buffer.capacity_bits >= cfg.buffer.width_bits, "buffer.capacity_bits", cfg.buffer.capacity_bits,
         f"must hold at least one word of buffer.width_bits = {cfg.buffer.width_bits} bits")
    cfg.t_sense_cycles  # noqa: B018  (raises if a phase is not a whole number of cycles)
    _check_settling(cfg, src)
    cfg.cycles(cfg.neuron.t_update_ns, "neuron.t_update_ns")
    cfg.cycles(cfg.buffer.t_access_ns, "buffer.t_access_ns")
    _check_derived(cfg, src)


def _check_derived(cfg: ArchConfig, src: str):
    """Per-action energies finite and >= 0, TOPS/W finite and > 0, the whole chip within
    a wafer."""
    from . import energy  # energy imports this module

    for action, pj in energy.action_energies(cfg).items():
        if not (math.isfinite(pj) and pj >= 0):
            raise ConfigError(f"{src}: the energy of one {action} comes out as {pj!r} pJ; "
                              "check the keys it is made of (docs/calibration.md)")
    tops = energy.tops_per_watt(cfg)
    if not (math.isfinite(tops) and tops > 0):
        raise ConfigError(f"{src}: TOPS/W of one row sensing comes out as {tops!r}")
    chip_mm2 = energy.area_um2(cfg, cfg.chip.subarrays)["total"] * 1e-6
    if not chip_mm2 <= MAX_CHIP_AREA_MM2:
        raise ConfigError(f"{src}: chip.subarrays = {cfg.chip.subarrays}: the configured chip "
                          f"({cfg.subarray.rows}x{cfg.subarray.columns} subarrays, one buffer, the digital "
                          f"unit) would be {chip_mm2:.4g} mm2, more than a 300 mm wafer "
                          f"({MAX_CHIP_AREA_MM2:.0f} mm2)")


def settle_bound_ns(cfg: ArchConfig) -> float:
    """Shortest settle time the source-line node allows: ln(2^(bits+1)) R_SL C_SL in ns.

    The node sees every branch of the row in parallel, R_SL = 1 / (N (G_P + G_AP)) at the
    balanced point (:func:`bsnn_sim.energy.cell_conductances`), and holds
    C_SL = N * sensing.c_sl_ff_per_column + converter.c_sample_ff (the ADC's sampling
    capacitor; none for time-based sensing); it must settle to half
    a converter step, e^(-t/tau) <= 2^-(bits+1).
    """
    from .energy import cell_conductances  # the conductances are the energy model's

    g_p, g_ap = cell_conductances(cfg)
    r_sl = 1.0 / (cfg.subarray.columns * (g_p + g_ap))
    sample_ff = cfg.converter.c_sample_ff if cfg.converter.kind == "adc" else 0.0
    c_sl_ff = cfg.subarray.columns * cfg.sensing.c_sl_ff_per_column + sample_ff
    tau_ns = r_sl * c_sl_ff * 1e-6
    return math.log(2.0 ** (cfg.converter.bits + 1)) * tau_ns


def _check_settling(cfg: ArchConfig, src: str):
    bound = settle_bound_ns(cfg)
    if cfg.sensing.t_settle_ns < bound:
        raise ConfigError(f"{src}: sensing.t_settle_ns = {cfg.sensing.t_settle_ns!r}: shorter than the source line's "
                          f"RC settling to half a converter step ({bound:.3f} ns from sensing.c_sl_ff_per_column, converter.c_sample_ff and the row)")


def load_arch(path) -> ArchConfig:
    """Read and validate an architecture TOML file.

    A file that sets no section at all is refused (it would silently be the default
    design); a file that sets some keys takes the defaults for the rest and lists them
    in ``ArchConfig.defaults_used`` (``bsnn-sim run --arch`` prints them).
    """
    path = Path(path)
    data = read_toml(path, "architecture config")
    cfg = from_dict(data, path)
    if not any(sec in data for sec in SECTIONS):
        raise ConfigError(f"{path}: sets no architecture key (no [section] of {', '.join(SECTIONS)}); "
                          "copy arch_configs/stt_bsnn_65nm.toml for the paper design "
                          "(docs/config-reference.md lists every key)")
    return cfg
