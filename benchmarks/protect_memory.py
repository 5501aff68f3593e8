"""Peak memory of ``uebench protect`` against the number of volumes in the folder.

After ``fit``, protect holds one case at a time, so its peak RSS must not grow with the
number of volumes. This writes MSD folders of N small int16 MRI volumes (one channel, a
spherical lesion; ``--shape``, default 128 x 128 x 80) for each N in ``--counts`` (default
10 and 40), protects each in a fresh process (``--method``, default the training-free
``random-roi``; ``--preset`` quick: fitted at 64^3), and prints for each N the child's peak
RSS and the protect seconds per volume (its own wall time, imports excluded).

    .venv/bin/python benchmarks/protect_memory.py [--counts 10 40] [--shape 128 128 80]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import nibabel as nib
import numpy as np

CHILD = """
import json, resource, sys, time
from pathlib import Path
from uebench.custodian.protect import Settings, protect
data, out, method, preset = sys.argv[1:5]
start = time.perf_counter()
manifest = protect(data, Path(out), Settings(method, {}, 4 / 255, 0, preset, "cpu"),
                   progress=False, echo=lambda line: None)
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "cases": manifest["summary"]["cases"],
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "effective_eps_max": manifest["summary"]["effective_eps_max"]}))
"""


def write_folder(root: Path, n: int, shape: tuple[int, int, int]) -> Path:
    """An MSD folder of ``n`` int16 volumes with a spherical label, 1 x 1 x 2 mm."""
    (root / "imagesTr").mkdir(parents=True)
    (root / "labelsTr").mkdir()
    affine = np.diag([1.0, 1.0, 2.0, 1.0])
    grid = np.stack(np.meshgrid(*[np.arange(s) for s in shape], indexing="ij"), -1)
    training = []
    for i in range(n):
        rng = np.random.default_rng(i)
        centre = np.asarray(shape) * rng.uniform(0.35, 0.65, 3)
        label = (np.linalg.norm(grid - centre, axis=-1) < min(shape) / 6).astype(np.uint8)
        image = rng.normal(400, 60, shape) + 300.0 * label
        name = f"case_{i:03d}.nii.gz"
        nib.save(nib.Nifti1Image(image.astype(np.int16), affine), root / "imagesTr" / name)
        nib.save(nib.Nifti1Image(label, affine), root / "labelsTr" / name)
        training.append({"image": f"./imagesTr/{name}", "label": f"./labelsTr/{name}"})
    meta = {"name": f"mem{n}", "modality": {"0": "MRI"},
            "labels": {"0": "background", "1": "lesion"}, "numTraining": n,
            "training": training}
    (root / "dataset.json").write_text(json.dumps(meta))
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[10, 40])
    parser.add_argument("--shape", type=int, nargs=3, default=[128, 128, 80])
    parser.add_argument("--method", default="random-roi")
    parser.add_argument("--preset", default="quick")
    args = parser.parse_args()
    shape = tuple(args.shape)
    print(f"method {args.method}, preset {args.preset}, volumes {shape} int16")
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.counts:
            data = write_folder(Path(tmp) / f"data{n}", n, shape)
            out = Path(tmp) / f"out{n}"
            done = subprocess.run([sys.executable, "-c", CHILD, str(data), str(out),
                                   args.method, args.preset],
                                  capture_output=True, text=True, check=False)
            if done.returncode:
                sys.exit(f"protect of {n} volumes failed:\n{done.stderr[-2000:]}")
            result = json.loads(done.stdout.strip().splitlines()[-1])
            print(f"{n:4d} volumes: peak RSS {result['peak_rss_mb']:7.1f} MB, "
                  f"{result['seconds'] / result['cases']:.2f} s per volume "
                  f"({result['seconds']:.1f} s), effective eps max "
                  f"{result['effective_eps_max'] * 255:.2f}/255")


if __name__ == "__main__":
    main()
