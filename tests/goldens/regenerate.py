"""Regenerate the golden hardware reports of the shipped workloads (run deliberately,
after a change that is meant to move the numbers; review the diff before committing).

    python tests/goldens/regenerate.py

``bsnn-sim regress --update`` does the same for the goldens that exist and shows what
moved; this script also creates the files of new CASES. Both run the one pipeline
(bsnn_sim/pipeline.py) through :func:`bsnn_sim.regress.run_case`.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
IMAGES = 200
CASES = [("mnist_resnet", "stt_bsnn_65nm"), ("mnist_mlp", "stt_bsnn_65nm"), ("mnist_resnet", "stt_bsnn_65nm_32x288"),
         ("mnist_resnet", "stt_bsnn_65nm_event")]


def golden(workload: str, arch_name: str, images: int = IMAGES) -> dict:
    from bsnn_sim.regress import run_case

    return run_case(ROOT, workload, arch_name, images)


if __name__ == "__main__":
    from bsnn_sim.regress import write_golden

    for w, a in CASES:
        path = Path(__file__).parent / f"{w}__{a}.json"
        write_golden(path, golden(w, a))
        print("wrote", path)
