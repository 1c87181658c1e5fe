"""Every architecture key has one documented range (bsnn_sim/limits.py), the loader
enforces it, and no config the loader accepts yields a non-finite reported figure."""

import dataclasses
import math
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bsnn_sim import energy
from bsnn_sim.arch import SECTIONS, from_dict, load_arch
from bsnn_sim.errors import ConfigError, MappingError
from bsnn_sim.functional import FunctionalSimulator
from bsnn_sim.hardware import activity_of, evaluate_hardware, fit
from bsnn_sim.limits import BEGIN, END, LIMITS, MAX_CHIP_AREA_MM2, reference_table
from netfactory import tiny_network

DOC = Path(__file__).resolve().parents[1] / "docs" / "config-reference.md"
FIELDS = {f"{sec}.{f.name}": f for sec, cls in SECTIONS.items() for f in dataclasses.fields(cls)}
NUMERIC = sorted(k for k, lim in LIMITS.items() if lim.kind in (int, float))


def test_every_field_of_every_section_has_a_range_entry():
    missing = sorted(set(FIELDS) - set(LIMITS))
    assert not missing, f"give these keys a range in bsnn_sim/limits.py: {missing}"
    assert not sorted(set(LIMITS) - set(FIELDS)), "LIMITS names keys no section has"


@pytest.mark.parametrize("key", sorted(LIMITS))
def test_entry_matches_the_field_type_and_holds_its_default(key):
    sec, _, name = key.partition(".")
    lim, default = LIMITS[key], getattr(SECTIONS[sec](), name)
    assert type(default) is lim.kind, key
    assert lim.problem(default) is None, (key, default, lim.allowed())
    assert lim.why and lim.unit
    if lim.kind in (int, float):
        assert lim.lo is not None and lim.hi is not None and lim.lo < lim.hi, key  # lower AND upper bound


def test_the_reference_document_lists_every_key_as_the_code_has_it():
    text = DOC.read_text()
    table = text[text.index(BEGIN) + len(BEGIN):text.index(END)].strip()
    assert table == reference_table(SECTIONS).strip(), "run: python -m bsnn_sim.limits"
    for key in LIMITS:
        assert f"`{key}`" in table


def _just_outside(lim):
    """Values just below and just above the range (a value equal to an open bound included)."""
    out = []
    if lim.kind is int:
        out += [lim.lo - 1, lim.hi + 1]
    else:
        out += [lim.lo if lim.lo_open else lim.lo - max(abs(lim.lo), 1e-9) * 1e-6 - 1e-300,
                lim.hi * (1 + 1e-9)]
    return out


@pytest.mark.parametrize("key", NUMERIC)
def test_a_value_outside_the_range_is_refused_naming_the_key(key):
    sec, _, name = key.partition(".")
    for value in _just_outside(LIMITS[key]):
        with pytest.raises(ConfigError, match=re.escape(f"{key} = ")) as info:
            from_dict({sec: {name: value}})
        assert "allowed" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("key", NUMERIC)
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf"), "1", True, [1], {"a": 1}, 10**400])
def test_a_value_of_the_wrong_type_or_not_finite_is_refused(key, bad):
    sec, _, name = key.partition(".")
    with pytest.raises(ConfigError, match=re.escape(f"{key} = ")):
        from_dict({sec: {name: bad}})


def test_cross_key_limit_blames_the_key_that_is_out_of_range():
    with pytest.raises(ConfigError, match=r"technology\.vdd_v = 0\b"):
        from_dict({"technology": {"vdd_v": 0}})
    with pytest.raises(ConfigError, match=r"subarray\.v_read_v = 0\.3: must be below technology\.vdd_v = 0\.25"):
        from_dict({"technology": {"vdd_v": 0.25}})


def test_the_tmr_at_the_die_temperature_must_keep_a_signal():
    with pytest.raises(ConfigError, match=r"mtj\.tmr_temp_coeff_per_k = 0\.005: at technology\.temperature_k = 500"):
        from_dict({"technology": {"temperature_k": 500.0}, "mtj": {"tmr_temp_coeff_per_k": 0.005}})
    hot = from_dict({"technology": {"temperature_k": 500.0}, "mtj": {"tmr_temp_coeff_per_k": 0.004}})
    assert math.isfinite(energy.tops_per_watt(hot))


def test_an_empty_file_is_refused_and_a_partial_one_lists_its_defaults(tmp_path):
    empty = tmp_path / "empty.toml"
    empty.write_text('name = "x"\n')
    with pytest.raises(ConfigError, match="sets no architecture key"):
        load_arch(empty)
    part = tmp_path / "part.toml"
    part.write_text("[chip]\nsubarrays = 128\n")
    cfg = load_arch(part)
    assert "chip.subarrays" not in cfg.defaults_used and "chip.replication" in cfg.defaults_used
    assert len(cfg.defaults_used) == len(FIELDS) - 1
    assert load_arch("arch_configs/stt_bsnn_65nm.toml").defaults_used == ()


def test_a_chip_larger_than_a_wafer_is_refused():
    with pytest.raises(ConfigError, match=r"chip\.subarrays = .*300 mm wafer"):
        from_dict({"chip": {"subarrays": 2**20}, "subarray": {"rows": 4096, "columns": 4096},
                   "converter": {"bits": 13}})


# --- no accepted config yields a non-finite figure ------------------------------------

def _log_uniform(lim):
    """Integers uniform; floats log-uniform over the range (from 1e-6 where it starts at 0,
    with 0 itself drawn where it is allowed)."""
    if lim.kind is int:
        return st.integers(int(lim.lo), int(lim.hi))
    lo = max(lim.lo, 1e-6)
    spread = st.floats(math.log10(lo), math.log10(lim.hi)).map(lambda e: min(max(10 ** e, lo), lim.hi))
    return spread if lim.lo > 0 or lim.lo_open else st.one_of(st.just(0.0), spread)


@st.composite
def accepted_extremes(draw):
    """Configs drawn over the whole allowed ranges (log-uniform), built to pass the limits
    across keys: times as whole cycles, v_read_v < vdd_v, enough converter bits."""
    data = {sec: {} for sec in SECTIONS}
    for key, lim in LIMITS.items():
        sec, _, name = key.partition(".")
        if lim.kind is bool:
            data[sec][name] = draw(st.booleans())
        elif lim.kind is str:
            data[sec][name] = draw(st.sampled_from(lim.choices))
        else:
            data[sec][name] = draw(_log_uniform(lim))
    t_clk = data["technology"]["t_clk_ns"]
    for sec, name in (("sensing", "t_drive_ns"), ("sensing", "t_settle_ns"), ("sensing", "t_latch_ns"),
                      ("neuron", "t_update_ns"), ("buffer", "t_access_ns")):
        data[sec][name] = draw(st.integers(1 if name != "t_update_ns" else 0, max(1, int(1e6 / t_clk)))) * t_clk
        data[sec][name] = min(data[sec][name], 1e6) if data[sec][name] > 0 else 0.0
    data["technology"]["vdd_v"] = max(data["technology"]["vdd_v"], 1.6)
    data["subarray"]["rows"] = draw(st.sampled_from([1, 2, 32, 4096]))
    data["subarray"]["columns"] = draw(st.sampled_from([1, 16, 288, 4096]))
    data["subarray"]["rows_per_phase"] = draw(st.integers(1, data["subarray"]["rows"]))
    data["converter"]["bits"] = max(data["converter"]["bits"], math.ceil(math.log2(data["subarray"]["columns"] + 1)))
    data["buffer"]["capacity_bits"] = max(data["buffer"]["capacity_bits"], data["buffer"]["width_bits"])
    return data


def _all_finite(d):
    for v in d.values():
        if isinstance(v, dict):
            _all_finite(v)
        elif isinstance(v, float):
            assert math.isfinite(v), d


NET = tiny_network(seed=3)
IMAGES = np.random.default_rng(3).integers(0, 256, size=(3, 1, 6, 6), dtype=np.uint8)


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(accepted_extremes())
def test_no_accepted_config_reports_a_non_finite_figure(data):
    try:
        cfg = from_dict(data)
    except ConfigError as exc:  # a time that is not a whole number of cycles after clamping, a wafer-size chip
        assert "\n" not in str(exc)
        return
    e = energy.action_energies(cfg)
    assert all(math.isfinite(v) and v >= 0 for v in e.values()) and sum(e.values()) > 0
    assert math.isfinite(energy.tops_per_watt(cfg))
    assert energy.area_um2(cfg, cfg.chip.subarrays)["total"] * 1e-6 <= MAX_CHIP_AREA_MM2
    try:
        mapping = fit(NET, cfg)
    except MappingError:
        return
    res = FunctionalSimulator(NET, cfg.subarray.columns).run(IMAGES, np.zeros(3, np.int64), batch_size=3)
    summary = evaluate_hardware(NET, activity_of(res), cfg, mapping=mapping).summary()
    _all_finite(summary)
    assert summary["energy_per_inference_pj"] > 0 and summary["area_mm2"] > 0


@pytest.mark.parametrize("end", ["lo", "hi"])
def test_every_range_end_at_once_gives_finite_figures(end):
    """All keys at their lower (or upper) ends together, where the limits across keys allow."""
    data = {sec: {} for sec in SECTIONS}
    for key, lim in LIMITS.items():
        if lim.kind in (int, float):
            sec, _, name = key.partition(".")
            value = getattr(lim, end)
            if lim.lo_open and end == "lo":
                value = lim.hi * 1e-9
            data[sec][name] = lim.kind(value)
    t_clk = data["technology"]["t_clk_ns"]
    for sec, name in (("sensing", "t_drive_ns"), ("sensing", "t_settle_ns"), ("sensing", "t_latch_ns"),
                      ("neuron", "t_update_ns"), ("buffer", "t_access_ns")):
        data[sec][name] = t_clk
    data["technology"]["vdd_v"] = 5.0
    data["subarray"].update(rows_per_phase=1, v_read_v=min(data["subarray"]["v_read_v"], 1.0))
    data["converter"]["bits"] = 16
    data["chip"]["subarrays"] = 1
    if end == "hi":  # the largest subarray row and buffer that still fit a wafer with every area at its top
        data["subarray"].update(rows=1, columns=4096)
        data["buffer"]["capacity_bits"] = 2**20
        data["mtj"]["tmr_temp_coeff_per_k"] = 0.004  # at 500 K the TMR keeps 20 % (the top, 0.01 /K, none)
        data["sensing"]["t_settle_ns"] = 1e6  # the source line's RC with the largest capacitances
    cfg = from_dict(data)
    e = energy.action_energies(cfg)
    assert all(math.isfinite(v) and v >= 0 for v in e.values()) and sum(e.values()) > 0
    tops = energy.tops_per_watt(cfg)
    assert math.isfinite(tops) and tops > 0
    assert math.isfinite(energy.area_um2(cfg, cfg.chip.subarrays)["total"])
