"""Regenerate the golden hardware reports of the shipped workloads (run deliberately,
after a change that is meant to move the numbers; review the diff before committing).

    python tests/goldens/regenerate.py
"""

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
IMAGES = 200
CASES = [("mnist_resnet", "stt_bsnn_65nm"), ("mnist_mlp", "stt_bsnn_65nm"), ("mnist_resnet", "stt_bsnn_65nm_32x288"),
         ("mnist_resnet", "stt_bsnn_65nm_event")]


def golden(workload: str, arch_name: str) -> dict:
    from bsnn_sim import datasets, weightfile
    from bsnn_sim.arch import load_arch
    from bsnn_sim.functional import FunctionalSimulator
    from bsnn_sim.hardware import activity_of, evaluate_hardware
    from bsnn_sim.workload import load_workload

    wl = load_workload(ROOT / "workloads" / f"{workload}.toml")
    net = weightfile.load(wl.weights)
    arch = load_arch(ROOT / "arch_configs" / f"{arch_name}.toml")
    data = datasets.load(wl.dataset, "test", limit=IMAGES)
    res = FunctionalSimulator(net, arch.subarray.columns).run(data.images, data.labels)
    hw = evaluate_hardware(net, activity_of(res), arch)
    s = hw.summary()
    keep = ("total_cycles", "latency_mean_cycles", "latency_p50_cycles", "latency_p99_cycles", "throughput_ips",
            "energy_per_inference_pj", "ops_dense_per_inference", "ops_sensed_per_inference", "tops_per_w",
            "tops_per_w_sensed", "area_mm2", "tops_per_mm2", "subarrays_used")
    return {"workload": workload, "arch": arch_name, "images": IMAGES, "correct": int((res.predictions == res.labels).sum()),
            **{k: s[k] for k in keep}, "energy_breakdown_pj": s["energy_breakdown_pj"],
            "action_totals": hw.timing.action_totals}


if __name__ == "__main__":
    for w, a in CASES:
        path = Path(__file__).parent / f"{w}__{a}.json"
        path.write_text(json.dumps(golden(w, a), indent=2, sort_keys=True) + "\n")
        print("wrote", path)
