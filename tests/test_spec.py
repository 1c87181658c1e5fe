"""docs/weight-format.md is a complete specification: a reader and evaluator written
only from it (this file: zip + NPY + JSON parsing by hand, the encoder of section 5.1
in Python integers, and the normative NumPy program of section 5.4 executed verbatim
from the document) reproduces every prediction of the simulator."""

import io
import json
import re
import zipfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from bsnn_sim import weightfile
from bsnn_sim.functional import FunctionalSimulator
from netfactory import tiny_network, wide_network

DOC = Path(__file__).resolve().parents[1] / "docs" / "weight-format.md"
MASK = (1 << 64) - 1


def spec_program():
    text = DOC.read_text()
    section = text[text.index("### 5.4 Reference evaluator"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    namespace = {"np": np, "encode": encode}
    exec(code, namespace)  # noqa: S102 - the document's normative program
    return namespace["predict"]


def encode(encoding, image, image_index, t, steps):
    """Section 5.1, in Python integers."""
    p = image.reshape(-1).astype(np.int64)
    if encoding["kind"] == "direct":
        x = p
    elif encoding["kind"] == "threshold":
        x = (p >= encoding["level"]).astype(np.int64)
    else:
        d = p.size
        x = np.zeros(d, np.int64)
        for i in range(d):
            counter = ((image_index * steps + t) * d + i) & MASK
            z = (encoding["seed"] + (counter + 1) * 0x9E3779B97F4A7C15) & MASK
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
            z = z ^ (z >> 31)
            x[i] = 1 if (z >> 56) < p[i] else 0
    return x.reshape(image.shape)


def read_file(path):
    """Sections 1-2: the archive, the header JSON, the arrays (NPY members)."""
    with zipfile.ZipFile(path) as z:
        arrays = {name[:-4]: np.load(io.BytesIO(z.read(name)), allow_pickle=False) for name in z.namelist()}
    header = json.loads(bytes(arrays.pop("header")).decode())
    nodes = []
    for h in header["nodes"]:
        n = SimpleNamespace(**h)
        if h["op"] in ("conv2d", "linear"):
            raw = arrays[f"{n.name}.weight"]
            if n.precision == "binary":
                fan_in = (h["in_channels"] * h["kernel"][0] * h["kernel"][1] if n.op == "conv2d"
                          else h["in_features"])
                bits = np.unpackbits(raw, axis=1, bitorder="little")[:, :fan_in]
                w = bits.astype(np.int64) * 2 - 1
            else:
                w = raw.astype(np.int64)
            if n.op == "conv2d":
                w = w.reshape(h["out_channels"], h["in_channels"], *h["kernel"])
            n.weight = w
            for key in ("bias", "theta", "res_gain"):
                a = arrays.get(f"{n.name}.{key}")
                setattr(n, key, None if a is None else a.astype(np.int64))
        nodes.append(n)
    return SimpleNamespace(T=header["time_steps"], encoding=header["encoding"], nodes=nodes)


CASES = [(tiny_network, "direct", 0), (tiny_network, "rate", 1), (tiny_network, "threshold", 4),
         (wide_network, "direct", 5), (wide_network, "threshold", 2), (wide_network, "rate", 3)]


def test_document_program_reproduces_simulator(tmp_path):
    predict = spec_program()
    seen = set()
    for factory, encoding, seed in CASES:
        net = factory(seed, encoding)
        path = tmp_path / f"{factory.__name__}-{encoding}-{seed}.bsnn.npz"
        weightfile.save(net, path)
        spec_net = read_file(path)
        images = np.random.default_rng(seed).integers(0, 256, size=(10,) + net.input_shape, dtype=np.uint8)
        index = np.arange(500, 510)
        sim = FunctionalSimulator(weightfile.load(path)).run_batch(images, index)
        spec = [predict(spec_net, images[k], int(index[k])) for k in range(len(images))]
        np.testing.assert_array_equal(sim.predictions, spec, err_msg=f"{factory.__name__} {encoding} {seed}")
        seen.update(spec)
    assert len(seen) > 2  # the comparison is not between constant outputs
