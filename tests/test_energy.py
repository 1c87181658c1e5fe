"""Energy and area model: the paper calibration, hand-checkable equations, pricing as pure
post-processing, the directions every physical parameter must move TOPS/W, and the
shipped architecture configs (they load; bad ones fail naming the key)."""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path

import pytest

from bsnn_sim import energy
from bsnn_sim.arch import SECTIONS, ArchConfig, load_arch
from bsnn_sim.errors import BsnnError, ConfigError

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

CONFIGS = Path(__file__).resolve().parent.parent / "arch_configs"
PAPER = CONFIGS / "stt_bsnn_65nm.toml"
SHIPPED = sorted(CONFIGS.glob("*.toml"))


@pytest.fixture(scope="module")
def paper() -> ArchConfig:
    return load_arch(PAPER)


# --- the row figure --------------------------------------------------------------------

def test_paper_config_row_figure_is_the_hand_computed_prediction(paper):
    # Not a fit to the paper's 176.6. Array 1.908 pJ per ns on the V_rd rail, for t_on = 2 ns,
    # drawn through an LDO (x 1.0 / 0.3); drive 0.311 pJ through the LDO; pre-drivers and
    # latches 288 x 11.3 fF x 1 V^2; a 9-bit ADC at one conversion per 2 ns (500 MS/s):
    # FoM = 2.2 fJ * sqrt(1 + (250 MHz / 100 MHz)^2).
    convert = 2.2e-3 * math.sqrt(1 + 2.5 ** 2) * 512
    row = 1.908 * 2 / 0.3 + 0.311 / 0.3 + 288 * 11.3e-3 + convert
    assert energy.tops_per_watt(paper) == pytest.approx(576 / row, rel=1e-3)

def test_default_arch_config_is_the_paper_config(paper):
    default = ArchConfig().to_dict()
    loaded = paper.to_dict()
    for sec in SECTIONS:
        assert loaded[sec] == default[sec], sec
    assert energy.tops_per_watt(ArchConfig()) == energy.tops_per_watt(paper)


def test_tops_per_watt_is_two_ops_per_synapse_over_row_energy(paper):
    parts = energy.row_sensing_breakdown(paper)
    assert set(parts) == {"sense_array", "drive_bitlines", "predrive", "convert", "total"}
    assert parts["total"] == pytest.approx(parts["sense_array"] + parts["drive_bitlines"] + parts["predrive"]
                                           + parts["convert"])
    assert energy.ops_per_row_sensing(paper) == 576
    assert energy.tops_per_watt(paper) == pytest.approx(576 / parts["total"])


# --- hand computations -----------------------------------------------------------------

def test_array_energy_matches_the_reference_hand_computation(paper):
    # reference.md: R_P 4k, R_AP 10k, R_access 1k, V_rd 0.3 V, N = 288 -> ~1.9 pJ per ns on
    # the V_rd rail. The largest allowed V_h (1e6 V) switches the bias dependence off: R_AP
    # is 10 kOhm to 1e-12.
    # The current flows for t_on = drive 0.5 + settle 1.0 + latch 0.5 = 2 ns, and an LDO
    # draws it from VDD = 1.0 V: x 1.0 / 0.3.
    flat = paper.replace(**{"mtj.v_half_v": 1e6})
    g_p, g_ap = energy.cell_conductances(flat)
    assert (1 / g_p, 1 / g_ap) == (pytest.approx(5000.0), pytest.approx(11000.0))
    rail_pj_per_ns = 0.3 ** 2 / 4 * 288 * (1 / 5000 + 1 / 11000) * 1e-9 * 1e12
    assert rail_pj_per_ns == pytest.approx(1.885, abs=1e-3)
    assert energy.t_on_ns(flat) == 2.0
    assert energy.read_rail_efficiency(flat) == pytest.approx(0.3)
    assert energy.action_energies(flat)["sense_array"] == pytest.approx(rail_pj_per_ns * 2.0 / 0.3, rel=1e-12)


def test_a_switched_regulator_divides_the_rail_terms_by_its_efficiency(paper):
    ldo = energy.action_energies(paper)
    sw = energy.action_energies(paper.replace(**{"supply.read_regulator": "switched",
                                                 "supply.switched_efficiency": 0.8}))
    for action in ("sense_array", "drive_bitlines"):
        assert sw[action] == pytest.approx(ldo[action] * 0.3 / 0.8)
    for action in ("predrive", "convert", "neuron_add"):
        assert sw[action] == ldo[action]


def test_predrive_and_latch_switch_at_vdd_from_the_device_sizes(paper):
    # per column: pull-up gate 6 um + pull-down gate 3.3 um at 1 fF/um, latch 2 fF: 11.3 fF at 1.0 V
    e = energy.action_energies(paper)
    assert e["predrive"] == pytest.approx(288 * 11.3e-15 * 1.0 ** 2 * 1e12)
    lower = energy.action_energies(paper.replace(**{"technology.vdd_v": 0.9}))["predrive"]
    assert lower == pytest.approx(e["predrive"] * 0.81)


def test_leakage_entries_are_power_times_one_clock_cycle(paper):
    e = energy.action_energies(paper)  # 0.5 ns cycle
    assert e["leak_subarray_cycle"] == pytest.approx(1e-6 * 0.5e-9 * 1e12)  # 1 uW
    assert e["leak_digital_cycle"] == pytest.approx(50e-6 * 0.5e-9 * 1e12)  # 50 uW
    assert e["leak_buffer_bit_cycle"] == pytest.approx(20e-12 * 0.5e-9 * 1e12)  # 20 pW
    assert e["leak_state_bit_cycle"] == e["leak_buffer_bit_cycle"]  # SRAM state
    reg = energy.action_energies(paper.replace(**{"neuron.state_storage": "register"}))
    assert reg["leak_state_bit_cycle"] == pytest.approx(50e-12 * 0.5e-9 * 1e12)


def test_wire_and_weight_entries_by_hand(paper):
    # one subarray: cells 150 x 0.065^2 x 288 + drivers 17 x 288 + converter 1200 + accumulator 400
    # + periphery 400 um^2; a pitch is its square root
    area = 150 * 0.065 ** 2 * 288 + 17 * 288 + 1200 + 400 + 400
    assert energy.pitch_um(paper) == pytest.approx(math.sqrt(area))
    e = energy.action_energies(paper)
    bit = 0.5 * 0.2e-15 * math.sqrt(area) * 1.0 ** 2 * 1e12  # a * c_wire [F/um] * p [um] * VDD^2, in pJ
    assert e["wire_bit_pitch"] == pytest.approx(bit)
    assert e["psum_pitch"] == pytest.approx(9 * bit)  # a 9-bit partial sum
    assert e["weight_read_bit"] == 0.1
    assert e["leak_weight_bit_cycle"] == pytest.approx(20e-12 * 0.5e-9 * 1e12)
    assert energy.area_um2(paper, 1, weight_bits=6422528)["weights"] == pytest.approx(6422528.0)


def test_neuron_state_is_priced_as_the_chosen_storage(paper):
    sram = energy.action_energies(paper)
    assert (sram["state_read_bit"], sram["state_write_bit"]) == (0.1, 0.12)  # the buffer's SRAM
    reg = energy.action_energies(paper.replace(**{"neuron.state_storage": "register"}))
    assert (reg["state_read_bit"], reg["state_write_bit"]) == (0.005, 0.01)
    a_sram = energy.area_um2(paper, 1, state_bits=1000)["neuron_state"]
    a_reg = energy.area_um2(paper.replace(**{"neuron.state_storage": "register"}), 1, state_bits=1000)["neuron_state"]
    assert (a_sram, a_reg) == (pytest.approx(1000.0), pytest.approx(5500.0))


def test_settle_time_is_validated_against_the_source_line_rc(paper):
    from bsnn_sim.arch import settle_bound_ns

    g_p, g_ap = energy.cell_conductances(paper)
    tau_ns = 1 / (288 * (g_p + g_ap)) * (288 * 1e-15 + 500e-15) * 1e9  # + converter.c_sample_ff
    assert settle_bound_ns(paper) == pytest.approx(10 * 0.6931471805599453 * tau_ns)  # ln 2^10
    assert 0.05 < settle_bound_ns(paper) < 0.1
    with pytest.raises(ConfigError, match="sensing.t_settle_ns"):
        paper.replace(**{"converter.c_sample_ff": 20000.0})  # tau x 26: ~1.7 ns > 1 ns


def test_antiparallel_branch_sits_at_its_self_consistent_bias(paper):
    _, g_ap = energy.cell_conductances(paper)
    r_ap = 1 / g_ap - 1000.0
    v_mtj = 0.15 * r_ap / (1000.0 + r_ap)  # V_rd/2 across the branch, divided with the FET
    assert r_ap == pytest.approx(4000.0 * (1 + 1.5 / (1 + (v_mtj / 0.5) ** 2)), rel=1e-9)
    assert 9500 < r_ap < 10000  # the bias lowers R_AP below its zero-bias 10 kOhm


def test_drive_and_conversion_match_hand_computation(paper):
    e = energy.action_energies(paper)
    assert energy.bitline_capacitance_ff(paper) == pytest.approx(12.0)
    assert e["drive_bitlines"] == pytest.approx(288 * 12e-15 * 0.3 ** 2 / 0.3 * 1e12)  # LDO: x VDD / V_rd
    assert e["convert"] == pytest.approx(2.2e-3 * math.sqrt(1 + (500 / 2 / 100) ** 2) * 512)


def test_word_line_costs_energy_only_when_a_subarray_has_several_rows(paper):
    one = energy.action_energies(paper)["sense_array"]
    two = energy.action_energies(paper.replace(**{"subarray.rows": 2}))["sense_array"]
    assert two - one == pytest.approx(288 * 2.2e-3 * 1.0 ** 2)


def test_bit_line_drive_is_shared_by_the_rows_of_a_subarray(paper):
    per_row = [energy.row_sensing_breakdown(paper.replace(**{"subarray.rows": m}))["drive_bitlines"]
               for m in (2, 4, 32)]
    assert per_row[0] > per_row[1] > per_row[2]
    arch = paper.replace(**{"subarray.rows": 4})
    assert per_row[1] == pytest.approx(energy.action_energies(arch)["drive_bitlines"] / 4)


def test_area_adds_up_and_scales_with_subarrays(paper):
    one, many = energy.area_um2(paper, 1), energy.area_um2(paper, 100)
    assert one["cells"] == pytest.approx(150 * 0.065 ** 2 * 288)
    assert one["total"] == pytest.approx(sum(v for k, v in one.items() if k != "total"))
    for part in ("cells", "drivers", "converters", "neurons", "periphery"):
        assert many[part] == pytest.approx(100 * one[part])
    for part in ("buffer", "digital", "neuron_state"):
        assert many[part] == one[part]


# --- pricing ---------------------------------------------------------------------------

COUNTS = {"sense_array": 1000, "drive_bitlines": 400, "predrive": 400, "convert": 1000, "neuron_add": 1000,
          "neuron_update": 900, "neuron_fire": 30, "state_read_bit": 16000, "state_write_bit": 16000,
          "buffer_read_bit": 5000, "buffer_write_bit": 800, "digital_mac": 70, "weight_read_bit": 560,
          "wire_bit_pitch": 40000, "psum_pitch": 300, "leak_subarray_cycle": 9000, "leak_state_bit_cycle": 10 ** 7,
          "leak_buffer_bit_cycle": 10 ** 6, "leak_digital_cycle": 3000, "leak_weight_bit_cycle": 10 ** 6}


def test_price_is_counts_times_energy(paper):
    e = energy.action_energies(paper)
    bill = energy.price(COUNTS, e)
    for action, count in COUNTS.items():
        assert bill[action] == count * e[action]
    assert bill["total"] == pytest.approx(sum(COUNTS[a] * e[a] for a in COUNTS))


@pytest.mark.parametrize("action", energy.ACTIONS)
def test_doubling_one_entry_doubles_that_component_only(paper, action):
    e = energy.action_energies(paper)
    before = energy.price(COUNTS, e)
    after = energy.price(COUNTS, {**e, action: 2 * e[action]})
    assert after[action] == 2 * before[action]
    for other in energy.ACTIONS:
        if other != action:
            assert after[other] == before[other]
    assert after["total"] - before["total"] == pytest.approx(before[action], rel=1e-12, abs=1e-12 * before["total"])


def test_price_rejects_unknown_actions_naming_them(paper):
    with pytest.raises(BsnnError, match="sense_everything"):
        energy.price({"sense_everything": 1}, energy.action_energies(paper))


def test_price_rejects_negative_counts(paper):
    with pytest.raises(BsnnError, match="convert"):
        energy.price({"convert": -1}, energy.action_energies(paper))


def test_price_of_nothing_is_zero(paper):
    assert energy.price({}, energy.action_energies(paper)) == {"total": 0.0}


def test_action_table_has_exactly_the_documented_actions(paper):
    assert tuple(energy.action_energies(paper)) == energy.ACTIONS


# --- directions ------------------------------------------------------------------------

@pytest.mark.parametrize("key, lower, higher", [
    ("subarray.v_read_v", 0.2, 0.3),
    ("sensing.t_settle_ns", 1.0, 2.0),
    ("converter.fom_fj_per_step", 1.0, 4.0),
    ("subarray.c_bitline_ff", 5.0, 20.0),
    ("mtj.tmr_pct", 120.0, 150.0),  # higher TMR: higher R_AP, less current
])
def test_tops_per_watt_moves_the_right_way(paper, key, lower, higher):
    lo, hi = (energy.tops_per_watt(paper.replace(**{key: v})) for v in (lower, higher))
    if key == "mtj.tmr_pct":
        assert hi > lo
    else:
        assert hi < lo


def test_tops_per_watt_falls_when_columns_shrink(paper):
    # the converter's energy is per row, whatever its width
    tops = [energy.tops_per_watt(paper.replace(**{"subarray.columns": n})) for n in (288, 144, 64)]
    assert tops[0] > tops[1] > tops[2]


def test_sensitivity_probe_brackets_the_nominal_value(paper):
    nominal = energy.tops_per_watt(paper)
    sens = energy.sensitivity(paper)
    assert set(sens) == set(energy.SENSITIVITY_KEYS)
    lo, hi = sens["subarray.v_read_v"]
    assert lo > nominal > hi
    for key, (lo, hi) in sens.items():
        assert min(lo, hi) <= nominal <= max(lo, hi), key


# --- shipped configs -------------------------------------------------------------------

def test_at_least_three_configs_are_shipped():
    assert PAPER in SHIPPED and len(SHIPPED) >= 3


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_every_shipped_config_loads_and_has_an_energy(path):
    arch = load_arch(path)
    assert arch.name == path.stem
    assert 10 < energy.tops_per_watt(arch) < 1000
    assert energy.area_um2(arch, arch.chip.subarrays)["total"] > 0


def test_the_paper_config_sets_every_key_arch_py_has():
    data = tomllib.loads(PAPER.read_text())
    for sec, cls in SECTIONS.items():
        assert set(data[sec]) == {f.name for f in dataclasses.fields(cls)}, sec


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_every_key_carries_a_comment(path):
    previous = ""
    for line in path.read_text().splitlines():
        if re.match(r"\s*[a-z_0-9]+\s*=", line) and not line.startswith(("name", "description")):
            assert "#" in line or previous.lstrip().startswith("#"), line
        previous = line


# --- config errors ---------------------------------------------------------------------

def write(tmp_path, text: str) -> Path:
    path = tmp_path / "arch.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("text, key", [
    ("[subarray]\ncolumn = 288\n", "subarray.column"),
    ("[mtj]\nr_ap_ohm = 10000.0\n", "mtj.r_ap_ohm"),
    ("[dram]\nsize = 1\n", "dram"),
])
def test_unknown_key_is_a_config_error_naming_it(tmp_path, text, key):
    with pytest.raises(ConfigError, match=re.escape(key)):
        load_arch(write(tmp_path, text))


@pytest.mark.parametrize("text, key", [
    ("[subarray]\nv_read_v = 1.5\n", "subarray.v_read_v"),
    ("[subarray]\nv_read_v = 0.0\n", "subarray.v_read_v"),
    ("[mtj]\nr_p_ohm = -4000.0\n", "mtj.r_p_ohm"),
    ("[subarray]\nrows = 4\nrows_per_phase = 8\n", "subarray.rows_per_phase"),
    ("[converter]\nbits = 25\n", "converter.bits"),
    ("[converter]\nrange_fraction = 1.5\n", "converter.range_fraction"),
    ("[converter]\nkind = \"time\"\nbits = 9\n", "converter.t_count_ns"),
    ("[converter]\nkind = \"flash\"\n", "converter.kind"),
    ("[cell]\np_stuck = 2.0\n", "cell.p_stuck"),
    ("[sensing]\nt_settle_ns = 1.1\n", "sensing.t_settle_ns"),
    ("[subarray]\ncolumns = 288.5\n", "subarray.columns"),
])
def test_out_of_range_value_is_a_config_error_naming_the_key(tmp_path, text, key):
    with pytest.raises(ConfigError, match=re.escape(key)):
        load_arch(write(tmp_path, text))


def test_row_figure_range_corners_by_hand(paper):
    # low-energy end of every bound: TMR 150 %, t_on = 1.5 ns (released at sampling), an
    # ideal V_rd rail, C_BL = 8 + 1 fF, pre-drivers (6 + 3.3) um x 0.8 fF/um + a 1 fF
    # latch, a 2.2 fJ/step ADC whose envelope corner is 300 MHz (500 MS/s: Nyquist 250 MHz)
    array = 0.3 ** 2 / 4 * 288 * sum(energy.cell_conductances(paper)) * 1.5e-9 * 1e12
    drive = 288 * 9e-15 * 0.09 * 1e12
    predrive = 288 * (9.3 * 0.8 + 1.0) * 1e-3
    convert = 2.2e-3 * math.sqrt(1 + (250 / 300) ** 2) * 512
    rng = energy.row_figure_range(paper)
    assert rng["best"] == pytest.approx(576 / (array + drive + predrive + convert), rel=1e-9)
    assert rng["nominal"] == energy.tops_per_watt(paper)
    assert rng["worst"] < rng["nominal"] < rng["best"]
    for key, (lo, hi) in rng["one_at_a_time"].items():
        assert hi <= rng["nominal"] <= lo, key  # the paper config sits at the high-energy end or between
    assert energy.read_rail_efficiency(paper.replace(**{"supply.read_regulator": "ideal"})) == 1.0
    released = paper.replace(**{"sensing.hold_through_latch": False})
    assert energy.t_on_ns(released) == 1.5
