"""Per-stage wall time of one ``reconstruct_with_details`` call in a fresh process.

Run:  .venv/bin/python bench/sdf_stages.py [--shape torus] [--input outliers10] [--preset auto]

What a user's single run costs, compilation included: the first fit, the half-resolution
surface that finds the outliers, the refit without them (when it runs) and the final
surface. The long ``bench/sdf_mesh.py`` process showed 60-70 s on some outlier inputs;
run this once per input (a fresh interpreter each time) to compare.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sdf_mesh import INPUTS, make_input, reference

import otlip.sdf_mesh._reconstruct as recon
from otlip.sdf_mesh import OneClassSDF


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", default="torus")
    ap.add_argument("--input", default="outliers10", choices=INPUTS)
    ap.add_argument("--preset", default="auto", choices=recon.PRESET_CHOICES)
    args = ap.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, load {os.getloadavg()}")
    stages = []
    fit, extract = OneClassSDF.fit, recon._extract

    def timed_fit(self, X, y=None):
        t = time.perf_counter()
        out = fit(self, X, y)
        stages.append((f"fit, {len(X)} points, {self.steps} updates", time.perf_counter() - t))
        return out

    def timed_extract(model, pts, **kw):
        t = time.perf_counter()
        out = extract(model, pts, **kw)
        stages.append((f"surface, resolution {kw['resolution']}", time.perf_counter() - t))
        return out

    OneClassSDF.fit, recon._extract = timed_fit, timed_extract
    pts = make_input(reference(args.shape), args.input)
    t = time.perf_counter()
    rec = recon.reconstruct_with_details(pts, seed=0, preset=args.preset)
    total = time.perf_counter() - t
    print(f"{args.shape} / {args.input} / {args.preset} -> {rec.preset}: {len(pts)} points")
    for name, sec in stages:
        print(f"  {name}: {sec:.1f} s")
    print(f"  total {total:.1f} s, {int(rec.outliers.sum())} points dropped as outliers")


if __name__ == "__main__":
    main()
