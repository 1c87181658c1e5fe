"""A generated corpus of bad inputs through the command line (click's CliRunner).

Every class of mistake a user can make (architecture configs, workload TOMLs, weight
files, datasets, output paths, command lines), each mutated many ways. For an input
that is invalid the command must exit with code 2 and print exactly one line, naming
the file and the key; never a traceback, never exit 0 with a meaningless result, never
a half-written output file. Inputs whose validity depends on the mutation (a random
byte flip, a truncation) must end in exit 0 or that same one-line error.
"""

import gzip
import json
import math
import random
import re
import struct
from pathlib import Path

import pytest

from bsnn_sim.arch import SECTIONS, ArchConfig
from bsnn_sim.limits import LIMITS
from netfactory import MNIST_WORKLOAD, cli_workspace
from test_cli import invoke

PAPER = Path(__file__).resolve().parents[1] / "arch_configs" / "stt_bsnn_65nm.toml"


@pytest.fixture
def env(tmp_path, monkeypatch):
    return cli_workspace(tmp_path, monkeypatch, n_test=20)


def lines_of(result):
    return [line for line in result.output.splitlines() if line.strip()]


def assert_one_line_error(result, *fragments):
    """Exit code 2, exactly one line of output (nothing ran before the check), no traceback."""
    lines = lines_of(result)
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert "Traceback" not in result.output and not isinstance(result.exception, (AssertionError, TypeError))
    for f in fragments:
        assert str(f) in lines[0], (f, lines[0])


def assert_clean(result):
    """Either success, or the one-line error: never a traceback or another exit code."""
    assert "Traceback" not in result.output, result.output
    assert result.exit_code in (0, 2), (result.exit_code, result.output, result.exception)
    if result.exit_code == 2:
        error_lines = [line for line in lines_of(result) if line.startswith("Error")]
        assert len(error_lines) == 1 and lines_of(result)[-1] == error_lines[0], result.output


# --- architecture configs: every key, every kind of bad value ---------------------------

def toml_value(v) -> str:
    return ("true" if v else "false") if isinstance(v, bool) else json.dumps(v)


def arch_text(override_key=None, literal=None) -> str:
    """The paper config as TOML, with ``override_key`` set to the TOML ``literal``."""
    lines = ['name = "mutant"']
    for sec, table in ArchConfig().to_dict().items():
        if not isinstance(table, dict):
            continue
        lines.append(f"[{sec}]")
        for k, v in table.items():
            lines.append(f"{k} = {literal if f'{sec}.{k}' == override_key else toml_value(v)}")
    return "\n".join(lines) + "\n"


BAD_LITERALS = ['"1.0"', "true", "[1, 2]", "{ a = 1 }", "nan", "inf", "-inf", "1e400", "1" + "0" * 400,
                "1979-05-27", "[[[[1]]]]"]


def bad_numbers(lim):
    """Out-of-range literals: below and above the bounds, 0 and -1 where not allowed, 1e308."""
    out = {-1, 0, 1e308, -1e308, lim.hi * 2 + 1}
    out.add(lim.lo if lim.lo_open else (lim.lo - 1 if lim.kind is int else lim.lo / 2 - 1e-3))
    if lim.kind is int:
        out = {int(v) if abs(v) < 1e300 else v for v in out}
        out.add(0.5)  # not an integer
    return [v for v in out if (type(v) is not lim.kind and not (lim.kind is float and type(v) is int))
            or lim.problem(lim.kind(v)) is not None]


ARCH_CASES = [(key, lit) for key in LIMITS for lit in BAD_LITERALS]
ARCH_CASES += [(key, repr(v) if isinstance(v, float) else str(v)) for key, lim in LIMITS.items()
               if lim.kind in (int, float) for v in bad_numbers(lim)]
ARCH_CASES += [(key, '"nonsense"') for key, lim in LIMITS.items() if lim.kind is str]


@pytest.mark.parametrize("key, literal", ARCH_CASES, ids=[f"{k}={lit[:12]}" for k, lit in ARCH_CASES])
def test_every_bad_arch_value_is_one_line_naming_file_and_key(tmp_path, key, literal):
    path = tmp_path / "mutant.toml"
    path.write_text(arch_text(key, literal))
    result = invoke("energy", "--arch", path)
    if LIMITS[key].kind is bool and literal == "true":  # the one valid literal of the list
        assert result.exit_code == 0, result.output
    else:
        assert_one_line_error(result, path, key)


@pytest.mark.parametrize("end", ["lo", "hi"])
@pytest.mark.parametrize("key", sorted(k for k, lim in LIMITS.items() if lim.kind in (int, float)))
def test_every_arch_range_end_is_a_finite_result_or_one_line(tmp_path, key, end):
    lim = LIMITS[key]
    value = getattr(lim, end)
    if end == "lo" and lim.lo_open:
        value = math.nextafter(lim.lo, math.inf)
    path = tmp_path / "edge.toml"
    path.write_text(arch_text(key, toml_value(lim.kind(value))))
    result = invoke("energy", "--arch", path)
    assert_clean(result)
    if result.exit_code == 0:
        for word in re.findall(r"[-+0-9.e]*(?:nan|inf)\b", result.output):
            pytest.fail(f"non-finite figure {word!r} in: {result.output}")
    else:
        assert str(path) in result.output


def test_cross_key_errors_blame_the_key_that_is_out_of_range(tmp_path):
    path = tmp_path / "a.toml"
    path.write_text(arch_text("technology.vdd_v", "0"))
    assert_one_line_error(invoke("energy", "--arch", path), "technology.vdd_v = 0")
    path.write_text(arch_text("technology.vdd_v", "0.25"))
    assert_one_line_error(invoke("energy", "--arch", path), "subarray.v_read_v", "technology.vdd_v = 0.25")


def test_a_config_that_sets_nothing_is_refused(tmp_path):
    for text in ("", 'name = "x"\n', 'name = "x"\ndescription = "y"\n'):
        path = tmp_path / "empty.toml"
        path.write_text(text)
        assert_one_line_error(invoke("energy", "--arch", path), path, "sets no architecture key")


def test_defaults_are_reported(tmp_path):
    path = tmp_path / "part.toml"
    path.write_text("[subarray]\nv_read_v = 0.25\n")
    result = invoke("energy", "--arch", path)
    assert result.exit_code == 0, result.output
    assert f"{len(LIMITS) - 1} keys left at the defaults" in result.output and "mtj.*" in result.output
    assert "every key set in the file" in invoke("energy", "--arch", PAPER).output


# --- the TOML file itself (architecture and workload) -----------------------------------

def toml_mutants(text: str, seed: int):
    """Broken files: not UTF-8, nested 2000 deep, truncations, byte flips, junk."""
    rng = random.Random(seed)
    raw = text.encode()
    yield "latin1", raw.replace(b"=", b"= \xe9", 1), True
    yield "utf16", text.encode("utf-16"), True
    yield "deep-array", b"x = " + b"[" * 2000 + b"]" * 2000 + b"\n" + raw, True
    yield "deep-table", b"x = " + b"{a = " * 2000 + b"1" + b"}" * 2000 + b"\n" + raw, True
    yield "nul", raw[:20] + b"\x00" + raw[20:], True
    yield "huge-int", b"x = " + b"9" * 5000 + b"\n" + raw, True
    yield "binary", bytes(rng.randrange(256) for _ in range(300)), True
    for i in range(12):
        yield f"truncated{i}", raw[:rng.randrange(1, len(raw))], False
    for i in range(12):
        flipped = bytearray(raw)
        for _ in range(3):
            flipped[rng.randrange(len(flipped))] = rng.randrange(256)
        yield f"flipped{i}", bytes(flipped), False


@pytest.mark.parametrize("case", [c[0] for c in toml_mutants(PAPER.read_text(), 1)])
def test_broken_arch_toml_files(tmp_path, case):
    name, blob, invalid = next(c for c in toml_mutants(PAPER.read_text(), 1) if c[0] == case)
    path = tmp_path / "arch.toml"
    path.write_bytes(blob)
    result = invoke("energy", "--arch", path)
    assert_clean(result)
    if invalid:
        assert_one_line_error(result, path)


@pytest.mark.parametrize("case", [c[0] for c in toml_mutants(MNIST_WORKLOAD, 2)])
def test_broken_workload_toml_files(env, case):
    tmp, wl, _ = env
    name, blob, invalid = next(c for c in toml_mutants(MNIST_WORKLOAD, 2) if c[0] == case)
    wl.write_bytes(blob)
    result = invoke("map", wl, "--arch", PAPER)
    assert_clean(result)
    if invalid:
        assert_one_line_error(result, wl)


def test_a_directory_or_missing_file_as_config(env):
    tmp, wl, _ = env
    assert_one_line_error(invoke("energy", "--arch", tmp / "nope.toml"), "not found")
    assert_one_line_error(invoke("map", tmp, "--arch", PAPER), "is a directory")
    assert_one_line_error(invoke("map", wl / "x.toml", "--arch", PAPER), "x.toml")


# --- workload TOMLs: every key, bad types and values ----------------------------------

WORKLOAD_MUTATIONS = [
    # (old text, new text, what the message must name)
    ('name = "cli_small"', "name = 5", "name"),
    ('name = "cli_small"', "", "name"),
    ('name = "cli_small"', 'name = ""', "name"),
    ('name = "cli_small"', 'name = "two\\nlines"', "name"),
    ('dataset = "mnist"', 'dataset = "imagenet"', "dataset"),
    ('dataset = "mnist"', "dataset = [1, 2]", "dataset"),
    ('weights = "cli_small.bsnn.npz"', "weights = 3", "weights"),
    ("time_steps = 2", "time_steps = 0", "network.time_steps"),
    ("time_steps = 2", "time_steps = 100000", "network.time_steps"),
    ("time_steps = 2", "time_steps = 2.5", "network.time_steps"),
    ("time_steps = 2", 'time_steps = "2"', "network.time_steps"),
    ("time_steps = 2", "time_steps = nan", "network.time_steps"),
    ('encoding = "direct"', 'encoding = "morse"', "network.encoding"),
    ('encoding = "direct"', "encoding = {}", "network.encoding"),
    ("frac_bits = 2", "frac_bits = -1", "network.frac_bits"),
    ("frac_bits = 2", "frac_bits = 99", "network.frac_bits"),
    ("frac_bits = 2", "frac_bits = 1" + "0" * 30, "network.frac_bits"),
    ('op = "conv2d"', "op = [1, 2]", "network.layers[0].op"),
    ('op = "conv2d"', "op = 5", "network.layers[0].op"),
    ('op = "conv2d"', "op = { a = 1 }", "network.layers[0].op"),
    ('op = "conv2d"', 'op = "dense"', "network.layers[0].op"),
    ('op = "conv2d"', "", "network.layers[0].op"),
    ("channels = 8\nkernel = 3\nstride = 2", "channels = 0\nkernel = 3\nstride = 2", "network.layers[0].channels"),
    ("channels = 8\nkernel = 3\nstride = 2", "kernel = 3\nstride = 2", "network.layers[0].channels"),
    ("kernel = 3\nstride = 2", "kernel = 99\nstride = 2", "network.layers[0].kernel"),
    ("stride = 2", "stride = 0", "network.layers[0].stride"),
    ("stride = 2", "stride = true", "network.layers[0].stride"),
    ("padding = 1\nprecision = \"int8\"", "padding = -1\nprecision = \"int8\"", "network.layers[0].padding"),
    ('precision = "int8"', 'precision = "fp32"', "network.layers[0].precision"),
    ('features = 10', "features = 7", "network.layers[4].features"),
    ('features = 10', "features = 1e3", "network.layers[4].features"),
    ('features = 10', "", "network.layers[4].features"),
    ("[network]", "[train]\nepochs = 0\n[network]", "train.epochs"),
    ("[network]", "[train]\nlr = nan\n[network]", "train.lr"),
    ("[network]", "[train]\nlr = inf\n[network]", "train.lr"),
    ("[network]", "[train]\nlr = 1" + "0" * 400 + "\n[network]", "train.lr"),
    ("[network]", "[train]\noptimizer = \"rmsprop\"\n[network]", "train.optimizer"),
    ("[network]", "[train]\nseed = -1\n[network]", "train.seed"),
    ("[network]", "train = [1]\n[network]", "train"),
    ("[network]", "results = 3\n[network]", "results"),
    ("[network]", "colour = 3\n[network]", "colour"),
    ('op = "maxpool2d"\nkernel = 2', 'op = "maxpool2d"\nkernel = 2\nstride = 2', "network.layers[2].stride"),
    ('op = "flatten"', 'op = "resblock"', "network.layers[4] (linear): needs a flat input"),
]


@pytest.mark.parametrize("old, new, key", WORKLOAD_MUTATIONS, ids=[m[2] + ":" + m[1][:14] for m in WORKLOAD_MUTATIONS])
def test_every_bad_workload_value_is_one_line_naming_file_and_key(env, old, new, key):
    tmp, wl, data = env
    assert old in MNIST_WORKLOAD
    wl.write_text(MNIST_WORKLOAD.replace(old, new, 1))
    assert_one_line_error(invoke("map", wl, "--arch", PAPER), wl, key)
    assert_one_line_error(invoke("run", wl, "--data-dir", data), wl, key)


def test_a_network_too_large_to_hold_is_refused_at_load(env):
    tmp, wl, data = env
    wl.write_text(MNIST_WORKLOAD.replace("channels = 8", "channels = 65536"))  # 9 x 65536^2 weights in conv2
    for result in (invoke("map", wl, "--arch", PAPER), invoke("train", wl, "--data-dir", data)):
        assert_one_line_error(result, wl, "at most 1,073,741,824")


@pytest.mark.parametrize("text, says", [
    ('name = "x"\ndataset = "mnist"\nnetwork = 5\n', "network = 5: expected a table"),
    ('name = "x"\ndataset = "mnist"\n', "network: required table is missing"),
    ('name = "x"\ndataset = "mnist"\n[network]\nlayers = []\n', "at least one layer"),
    ('name = "x"\ndataset = "mnist"\n[network]\nlayers = [1, 2]\n', "network.layers[0] = 1"),
])
def test_broken_network_tables(env, text, says):
    tmp, wl, _ = env
    wl.write_text(text)
    assert_one_line_error(invoke("map", wl, "--arch", PAPER), wl, says)


def test_missing_key_does_not_read_none(env):
    tmp, wl, _ = env
    wl.write_text(MNIST_WORKLOAD.replace("features = 10", ""))
    result = invoke("map", wl, "--arch", PAPER)
    assert_one_line_error(result, "features", "required key is missing")
    assert "None" not in result.output


# --- workload against its weight file --------------------------------------------------

MISMATCHES = [
    ("time_steps = 2", "time_steps = 8", "time_steps 8 (workload) vs 2"),
    ('encoding = "direct"', 'encoding = "rate"', "encoding rate (workload) vs direct"),
    ('encoding = "direct"', 'encoding = "threshold"', "encoding threshold"),
    ("channels = 8\nkernel = 3\nstride = 2", "channels = 16\nkernel = 3\nstride = 2", "node 0"),
    ("stride = 2", "stride = 1", "node 0"),
    ("padding = 1\nprecision = \"int8\"", "padding = 0\nprecision = \"int8\"", "node 0"),
    ('precision = "binary"', 'precision = "int8"', "node 1"),
    ('op = "maxpool2d"\nkernel = 2', 'op = "maxpool2d"\nkernel = 1', "node 2"),
    ('[[network.layers]]\nop = "maxpool2d"\nkernel = 2\n', "", "nodes (workload)"),
    ('[[network.layers]]\nop = "flatten"', '[[network.layers]]\nop = "maxpool2d"\nkernel = 1\n'
     '[[network.layers]]\nop = "flatten"', "nodes (workload)"),
    ('features = 10\nprecision = "int8"', 'features = 10\nprecision = "binary"', "node 4"),
    ('dataset = "mnist"', 'dataset = "cifar10"', "input shape (cifar10 images) 3x32x32"),
    ('dataset = "mnist"', 'dataset = "fashion_mnist"', "class names 'T-shirt/top,Trouser"),
]


@pytest.mark.parametrize("old, new, says", MISMATCHES, ids=[m[2][:24] for m in MISMATCHES])
def test_workload_and_weight_file_must_describe_the_same_network(env, old, new, says):
    tmp, wl, data = env
    assert old in MNIST_WORKLOAD
    wl.write_text(MNIST_WORKLOAD.replace(old, new, 1))
    weights = tmp / "cli_small.bsnn.npz"
    for result in (invoke("run", wl, "--data-dir", data), invoke("map", wl, "--arch", PAPER)):
        assert_one_line_error(result, weights, wl, says)


def test_frac_bits_is_the_trainers_grid_not_compared(env):
    tmp, wl, data = env
    wl.write_text(MNIST_WORKLOAD.replace("frac_bits = 2", "frac_bits = 4"))
    result = invoke("run", wl, "--data-dir", data, "--limit", 3)
    assert result.exit_code == 0, result.output


def test_a_shipped_workload_with_another_workloads_weights_is_refused():
    root = Path(__file__).resolve().parents[1] / "workloads"
    result = invoke("run", root / "mnist_resnet.toml", "--weights", root / "mnist_mlp.bsnn.npz", "--limit", 5)
    assert_one_line_error(result, "mnist_mlp.bsnn.npz", "mnist_resnet.toml", "nodes")


# --- weight files ------------------------------------------------------------------------

@pytest.fixture
def clean_accuracy(env):
    tmp, wl, data = env
    result = invoke("run", wl, "--data-dir", data, "--limit", 5)
    assert result.exit_code == 0, result.output
    return lines_of(result)[0].split(", T = ")[0]


@pytest.mark.parametrize("seed", range(16))
def test_mutated_weight_files(env, clean_accuracy, seed):
    """Truncations and bit flips: refused naming the file (checksums), or, where a flip only
    touched zip metadata that holds no data (a timestamp), exactly the clean result."""
    tmp, wl, data = env
    path = tmp / "cli_small.bsnn.npz"
    blob = bytearray(path.read_bytes())
    rng = random.Random(seed)
    if seed % 2:
        blob = blob[:rng.randrange(len(blob))]
    else:
        for _ in range(1 + seed % 5):
            blob[rng.randrange(len(blob))] ^= 1 << rng.randrange(8)
    path.write_bytes(bytes(blob))
    result = invoke("run", wl, "--data-dir", data, "--limit", 5)
    assert_clean(result)
    if result.exit_code == 2:
        assert_one_line_error(result, "cli_small.bsnn.npz")
    else:
        assert lines_of(result)[0].split(", T = ")[0] == clean_accuracy


def test_a_weight_file_that_is_a_directory_or_empty(env):
    tmp, wl, data = env
    empty = tmp / "empty.npz"
    empty.write_bytes(b"")
    assert_one_line_error(invoke("run", wl, "--data-dir", data, "--weights", empty), empty)
    assert_one_line_error(invoke("run", wl, "--data-dir", data, "--weights", tmp), tmp)
    assert_one_line_error(invoke("inspect", empty), empty)


# --- datasets ----------------------------------------------------------------------------

def write_idx(path: Path, arr_shape, n):
    ndim = len(arr_shape) + 1
    header = struct.pack(">I", 0x0800 | ndim) + b"".join(struct.pack(">I", d) for d in (n, *arr_shape))
    path.write_bytes(gzip.compress(header + bytes(n * math.prod(arr_shape))))


def test_an_empty_dataset_is_an_error_not_nan(env):
    tmp, wl, _ = env
    d = tmp / "emptydata" / "mnist"
    d.mkdir(parents=True)
    write_idx(d / "t10k-images-idx3-ubyte.gz", (28, 28), 0)
    write_idx(d / "t10k-labels-idx1-ubyte.gz", (), 0)
    result = invoke("run", wl, "--data-dir", tmp / "emptydata")
    assert_one_line_error(result, "holds no images", str(d))
    assert "nan" not in result.output


@pytest.mark.parametrize("cut", [0, 7, 15, 16, 100, 5000])
def test_truncated_dataset_files(env, cut):
    tmp, wl, data = env
    images = data / "mnist" / "t10k-images-idx3-ubyte.gz"
    raw = gzip.decompress(images.read_bytes())
    images.write_bytes(gzip.compress(raw[:cut]))
    assert_one_line_error(invoke("run", wl, "--data-dir", data), "t10k-images")


# --- output paths: checked before any work, never half-written -------------------------

def plain_file(tmp) -> Path:
    """``tmp/afile``, a file: an output path under it cannot be created."""
    afile = tmp / "afile"
    afile.write_text("x")
    return afile


def output_cases(tmp):
    return [tmp / "no" / "such" / "dir" / "r.json", plain_file(tmp) / "r.json", tmp]


@pytest.mark.parametrize("which", range(3))
def test_unwritable_json_and_csv_fail_before_the_run(env, which):
    tmp, wl, data = env
    bad = output_cases(tmp)[which]
    result = invoke("run", wl, "--data-dir", data, "--json", bad)
    assert_one_line_error(result, "--json")
    assert "accuracy" not in result.output and "simulating" not in result.output
    assert_one_line_error(invoke("map", wl, "--arch", PAPER, "--csv", bad), "--csv")


def test_unwritable_out_dir_fails_before_the_run(env):
    tmp, wl, data = env
    afile = plain_file(tmp)
    result = invoke("run", wl, "--data-dir", data, "--arch", PAPER, "--out", afile / "sub")
    assert_one_line_error(result, "--out")
    result = invoke("run", wl, "--data-dir", data, "--arch", PAPER, "--out", afile)
    assert_one_line_error(result, "--out")


def test_train_out_is_checked_before_training(env):
    tmp, wl, _ = env
    afile = plain_file(tmp)
    # the data directory does not exist either: the output error must come first
    result = invoke("train", wl, "--out", afile / "w.npz", "--data-dir", tmp / "nodata")
    assert_one_line_error(result, "--out", "afile")


def test_timing_options_need_arch(env):
    tmp, wl, data = env
    for extra in (["--timing-images", 3], ["--pipelined"]):
        assert_one_line_error(invoke("run", wl, "--data-dir", data, "--out", tmp / "o", *extra), "needs --arch")
    assert not (tmp / "o").exists()  # refused before any output


def test_out_without_arch_writes_the_functional_results(env):
    """--out means something without --arch: results.json and the per-image predictions."""
    tmp, wl, data = env
    result = invoke("run", wl, "--data-dir", data, "--limit", 4, "--out", tmp / "o")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp / "o" / "results.json").read_text())["images"] == 4
    assert len((tmp / "o" / "predictions.csv").read_text().splitlines()) == 1 + 4
    assert not (tmp / "o" / "layers.csv").exists()


def test_results_are_written_whole(env):
    tmp, wl, data = env
    out = tmp / "r.json"
    result = invoke("run", wl, "--data-dir", data, "--json", out, "--limit", 4)
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["images"] == 4
    assert [p.name for p in tmp.iterdir() if p.name.startswith(".")] == []  # no temporary file left


# --- hardware fit before the functional pass ---------------------------------------------

@pytest.mark.parametrize("literal, key", [("64", "buffer.capacity_bits"), ("1000", "buffer.capacity_bits"),
                                          ("3", "chip.subarrays")])
def test_hardware_that_cannot_hold_the_network_fails_before_simulating(env, literal, key):
    tmp, wl, data = env
    path = tmp / "small.toml"
    path.write_text(arch_text(key, literal))
    result = invoke("run", wl, "--data-dir", data, "--arch", path)
    assert_one_line_error(result, path, key)
    assert "simulating" not in result.output


# --- command lines -----------------------------------------------------------------------

COMMAND_LINES = [
    ["run", "{wl}", "--limit", "0"],
    ["run", "{wl}", "--limit", "-3"],
    ["run", "{wl}", "--limit", "many"],
    ["run", "{wl}", "--batch-size", "0"],
    ["run", "{wl}", "--timing-images", "0", "--arch", "{arch}"],
    ["run", "{wl}", "--split", "validation"],
    ["run", "{wl}", "--bogus"],
    ["run"],
    ["run", "{wl}", "extra-argument"],
    ["map", "{wl}"],
    ["train", "{wl}", "--epochs", "0"],
    ["data", "fetch", "imagenet"],
    ["data", "nosuch"],
    ["nosuchcommand"],
    ["--nosuchoption"],
    ["inspect"],
    ["run", "{wl}", "--mc", "0", "--arch", "{arch}"],
    ["run", "{wl}", "--analog"],
    ["run", "{wl}", "--mc", "2"],
    ["run", "{wl}", "--calibrate", "3"],
    ["variation", "{wl}", "--arch", "{arch}", "--param", "mtj.sigma_r_rel", "--values", "0.1"],
    ["variation", "{wl}", "--arch", "{arch}", "--param", "mtj.sigma_r_rel", "--values", "0.1", "--out", "v",
     "--mc", "0"],
]


@pytest.mark.parametrize("argv", COMMAND_LINES, ids=[" ".join(a) for a in COMMAND_LINES])
def test_usage_errors_are_one_line_with_exit_code_2(env, argv):
    tmp, wl, _ = env
    args = [a.format(wl=wl, arch=PAPER) for a in argv]
    result = invoke(*args)
    assert_one_line_error(result, "--help")


def test_limit_zero_is_exactly_one_line(env):
    tmp, wl, _ = env
    result = invoke("run", wl, "--limit", "0")
    assert_one_line_error(result, "--limit", "0")


def test_every_section_and_key_of_the_paper_config_is_exercised():
    keys = {k for k, _ in ARCH_CASES}
    assert keys == {f"{sec}.{f}" for sec, cls in SECTIONS.items() for f in cls.__dataclass_fields__}


# --- the variation sweep: every value and the output directory before any chip ---------

@pytest.mark.parametrize("param, values, says", [
    ("mtj.sigma_r_rel", "abc", "mtj.sigma_r_rel = 'abc'"),
    ("mtj.sigma_r_rel", "0.1,nan", "not a finite number"),
    ("mtj.sigma_r_rel", "0.1,1e400", "not a finite number"),
    ("mtj.sigma_r_rel", "0.1,,0.2", "empty item"),
    ("mtj.sigma_r_rel", "2", "above the allowed range"),
    ("mtj.nope", "1", "mtj.nope"),
    ("nosection", "1", "nosection"),
    ("chip.subarrays", "4096,3", "chip.subarrays = 3"),  # in range, but the network does not fit
    ("buffer.capacity_bits", "64", "buffer.capacity_bits"),
    ("sensing.skip_zero_chunks", "maybe", "sensing.skip_zero_chunks"),
])
def test_variation_values_are_checked_before_any_chip(env, param, values, says):
    tmp, wl, data = env
    result = invoke("variation", wl, "--arch", PAPER, "--data-dir", data, "--param", param, "--values", values,
                    "--mc", 1, "--workers", 1, "--limit", 2, "--out", tmp / "v")
    assert_one_line_error(result, says)
    assert not (tmp / "v" / "variation.csv").exists()


def test_variation_out_is_checked_before_any_chip(env):
    tmp, wl, data = env
    afile = plain_file(tmp)
    result = invoke("variation", wl, "--arch", PAPER, "--data-dir", data, "--param", "mtj.sigma_r_rel",
                    "--values", "0.1", "--mc", 1, "--workers", 1, "--limit", 2, "--out", afile / "v")
    assert_one_line_error(result, "--out", "afile")


def test_variation_takes_boolean_values(env):
    tmp, wl, data = env
    result = invoke("variation", wl, "--arch", PAPER, "--data-dir", data, "--param", "sensing.skip_zero_chunks",
                    "--values", "true,false", "--mc", 1, "--workers", 1, "--limit", 2, "--out", tmp / "v")
    assert result.exit_code == 0, result.output
    assert (tmp / "v" / "variation.csv").read_text().splitlines()[1].startswith("True,")


# --- random line mutations of both TOML files, through three commands -----------------

TOKENS = ["0", "-1", "1e308", "-0.0", "1e-308", "nan", "inf", '"x"', "[]", "{}", "true", "false", "2", "3.5",
          "99999999999999999999999", "1e-5", "0.001", "1000000", "[1,2]", "{a=1}", "'''", '""', "4096", "65536",
          "0.5", "1.0", "288", "13", "1970-01-01", '"time"', '"none"']


def mutate_lines(text: str, rng: random.Random) -> str:
    """One to four edits: a value replaced by a token, a line deleted, duplicated or cut,
    or a stray key inserted."""
    lines = text.splitlines()
    for _ in range(rng.randint(1, 4)):
        i = rng.randrange(len(lines))
        op = rng.random()
        if "=" in lines[i] and op < 0.6:
            lines[i] = f"{lines[i].split('=')[0]}= {rng.choice(TOKENS)}"
        elif op < 0.7:
            del lines[i]
        elif op < 0.8:
            lines.insert(i, lines[rng.randrange(len(lines))])
        elif op < 0.9:
            lines[i] = lines[i][:rng.randrange(len(lines[i]) + 1)]
        else:
            lines.insert(i, f"{rng.choice(['foo', 'rows', 'bits', 'kernel'])} = {rng.choice(TOKENS)}")
    return "\n".join(lines) + "\n"


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(8))
def test_random_mutations_end_in_a_result_or_one_line(env, seed):
    """25 mutants per seed: exit 0 with finite figures, or the one-line error (never a
    traceback, never nan/inf in what is printed or written)."""
    tmp, wl, data = env
    rng = random.Random(seed)
    arch = tmp / "a.toml"
    for _ in range(25):
        arch.write_text(mutate_lines(PAPER.read_text(), rng) if rng.random() < 0.7 else PAPER.read_text())
        wl.write_text(mutate_lines(MNIST_WORKLOAD, rng) if rng.random() < 0.5 else MNIST_WORKLOAD)
        out = tmp / "r.json"
        out.unlink(missing_ok=True)
        cmd = rng.choice([["energy", "--arch", arch], ["map", wl, "--arch", arch],
                          ["run", wl, "--data-dir", data, "--limit", 3, "--arch", arch, "--json", out]])
        result = invoke(*cmd)
        assert_clean(result)
        if result.exit_code == 0:
            assert not re.search(r"(?<![A-Za-z])-?(nan|inf)(?![A-Za-z])", result.output), result.output
            if out.exists():
                assert not re.search(r"NaN|Infinity", out.read_text())


def test_import_and_export_check_out_before_converting(env):
    pytest.importorskip("nir")
    tmp, _, _ = env
    afile = plain_file(tmp)
    assert_one_line_error(invoke("export", tmp / "cli_small.bsnn.npz", "--out", afile / "x.nir"), "--out", "afile")
    # the graph does not exist either: the output is checked first
    assert_one_line_error(invoke("import", tmp / "nope.nir", "--out", afile / "x.npz", "--time-steps", 2),
                          "--out", "afile")
    result = invoke("export", tmp / "cli_small.bsnn.npz", "--out", tmp / "back.nir")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp.iterdir() if p.name.startswith(".")) == []  # no temporary file left


# --- resealed weight-file headers: valid checksums over mutated content ----------------

HEADER_VALUES = [0, -1, 1, 2, 10**30, -10**30, 1.5, 1e308, "x", "", None, True, [], {}, [1, 2], "binary", "int8",
                 "if", "readout", "conv1", "input", 2**31, 2**63, 255, 256]


def _leaves(obj, path=()):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _leaves(v, path + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _leaves(v, path + (i,))
    yield path


@pytest.mark.parametrize("seed", range(6))
def test_resealed_header_mutations(env, seed):
    """A header edited and resealed (the checksum matches): 20 mutants per seed, each 1-3
    leaves replaced or deleted; every one loads or is refused in one line naming the file."""
    from test_weightfile import read_raw, write_raw

    tmp, wl, data = env
    path = tmp / "cli_small.bsnn.npz"
    header0, arrays = read_raw(path)
    rng = random.Random(seed)
    for _ in range(20):
        header = json.loads(json.dumps(header0))
        for _ in range(rng.randint(1, 3)):
            where = rng.choice([p for p in _leaves(header) if p and p[0] != "checksum"])
            parent = header
            for k in where[:-1]:
                parent = parent[k]
            if isinstance(parent, dict) and rng.random() < 0.15:
                del parent[where[-1]]
            else:
                parent[where[-1]] = rng.choice(HEADER_VALUES)
        write_raw(path, header, arrays)
        result = invoke(*rng.choice([["inspect", path], ["map", wl, "--arch", PAPER]]))
        assert_clean(result)
        if result.exit_code == 2:
            assert "cli_small.bsnn.npz" in lines_of(result)[-1]
