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


# --- the calibration -------------------------------------------------------------------

def test_paper_config_row_figure_is_the_hand_computed_prediction(paper):
    # Not a fit to the paper's 176.6: array 1.908 pJ, drive 0.311 pJ and a 9-bit ADC at one
    # conversion per 2 ns (500 MS/s): FoM = 2.2 fJ * sqrt(1 + (250 MHz / 100 MHz)^2).
    convert = 2.2e-3 * math.sqrt(1 + 2.5 ** 2) * 512
    assert energy.tops_per_watt(paper) == pytest.approx(576 / (1.908 + 0.311 + convert), rel=1e-3)


def test_default_arch_config_is_the_paper_config(paper):
    default = ArchConfig().to_dict()
    loaded = paper.to_dict()
    for sec in SECTIONS:
        assert loaded[sec] == default[sec], sec
    assert energy.tops_per_watt(ArchConfig()) == energy.tops_per_watt(paper)


def test_tops_per_watt_is_two_ops_per_synapse_over_row_energy(paper):
    parts = energy.row_sensing_breakdown(paper)
    assert set(parts) == {"sense_array", "drive_bitlines", "convert", "total"}
    assert parts["total"] == pytest.approx(parts["sense_array"] + parts["drive_bitlines"] + parts["convert"])
    assert energy.ops_per_row_sensing(paper) == 576
    assert energy.tops_per_watt(paper) == pytest.approx(576 / parts["total"])


# --- hand computations -----------------------------------------------------------------

def test_array_energy_matches_the_reference_hand_computation(paper):
    # reference.md: R_P 4k, R_AP 10k, R_access 1k, V_rd 0.3 V, 1 ns, N = 288 -> ~1.9 pJ.
    # A huge V_h switches the bias dependence off so R_AP is exactly 10 kOhm.
    flat = paper.replace(**{"mtj.v_half_v": 1e9})
    g_p, g_ap = energy.cell_conductances(flat)
    assert (1 / g_p, 1 / g_ap) == (pytest.approx(5000.0), pytest.approx(11000.0))
    hand_pj = 0.3 ** 2 / 4 * 288 * (1 / 5000 + 1 / 11000) * 1e-9 * 1e12
    assert hand_pj == pytest.approx(1.885, abs=1e-3)
    assert energy.action_energies(flat)["sense_array"] == pytest.approx(hand_pj, rel=1e-12)


def test_antiparallel_branch_sits_at_its_self_consistent_bias(paper):
    _, g_ap = energy.cell_conductances(paper)
    r_ap = 1 / g_ap - 1000.0
    v_mtj = 0.15 * r_ap / (1000.0 + r_ap)  # V_rd/2 across the branch, divided with the FET
    assert r_ap == pytest.approx(4000.0 * (1 + 1.5 / (1 + (v_mtj / 0.5) ** 2)), rel=1e-9)
    assert 9500 < r_ap < 10000  # the bias lowers R_AP below its zero-bias 10 kOhm


def test_drive_and_conversion_match_hand_computation(paper):
    e = energy.action_energies(paper)
    assert energy.bitline_capacitance_ff(paper) == pytest.approx(12.0)
    assert e["drive_bitlines"] == pytest.approx(288 * 12e-15 * 0.3 ** 2 * 1e12)
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


def test_leakage_per_cycle():
    arch = ArchConfig()  # 1 uW per subarray, 0.5 ns cycle
    assert energy.leakage_pj_per_cycle(arch, 10) == pytest.approx(10 * 1e-6 * 0.5e-9 * 1e12)


def test_area_adds_up_and_scales_with_subarrays(paper):
    one, many = energy.area_um2(paper, 1), energy.area_um2(paper, 100)
    assert one["cells"] == pytest.approx(150 * 0.065 ** 2 * 288)
    assert one["total"] == pytest.approx(sum(v for k, v in one.items() if k != "total"))
    for part in ("cells", "drivers", "converters", "neurons", "periphery"):
        assert many[part] == pytest.approx(100 * one[part])
    for part in ("buffer", "digital"):
        assert many[part] == one[part]


# --- pricing ---------------------------------------------------------------------------

COUNTS = {"sense_array": 1000, "drive_bitlines": 400, "convert": 1000, "neuron_add": 1000, "neuron_update": 900,
          "neuron_fire": 30, "buffer_read_bit": 5000, "buffer_write_bit": 800, "digital_mac": 70}


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
    assert after["total"] - before["total"] == pytest.approx(before[action], rel=1e-12)


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
    assert 50 < energy.tops_per_watt(arch) < 1000
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
