"""Reference weak-label implementation in numpy/scipy, written the way the paper's research code
works (PAPER.md section 3): label the whole thresholded volume with scipy.ndimage.label, match by
slice and SUVmax, then iterative thresholding with whole-volume binary morphology. It reads the
phantom written by tests/label_bench.rs, times each finding, and compares its labels with ours.

Usage: reference.py DIR [--separable]
  DIR          holds volume.f32 (raw little-endian float32, C order [z, y, x]) and findings.json
  --separable  do the 7x7x7 cube dilation as three 1-D dilations (same result, faster): a fairer
               baseline than the literal np.ones((7, 7, 7)) structuring element.
"""

import json
import sys
import time
from pathlib import Path

import numpy as np
import scipy.ndimage as ndi

EPS = 1e-6  # same slack as src/label/mod.rs SUV_EPS
N6 = ndi.generate_binary_structure(3, 1)
N18 = ndi.generate_binary_structure(3, 2)


def dilate7(c, separable):
    if not separable:
        return ndi.binary_dilation(c, structure=np.ones((7, 7, 7), bool))
    d = c
    for shape in ((7, 1, 1), (1, 7, 1), (1, 1, 7)):
        d = ndi.binary_dilation(d, structure=np.ones(shape, bool))
    return d


def background(suv, c, separable):
    """Mean SUV over the outer shell of C dilated by a 7x7x7 cube."""
    d = dilate7(c, separable)
    shell = d & ~ndi.binary_erosion(d, structure=N6, border_value=0)
    return float(suv[shell].mean())


def match(suv, s, z):
    """Paper steps 1-3: components of suv > T0 (6-conn) on slice z with max within 0.1 of S."""
    t0 = 0.617 + 0.316 * s
    labels, n = ndi.label(suv > t0, structure=N6)
    if n == 0:
        return []
    idx = np.arange(1, n + 1)
    maxima = ndi.maximum(suv, labels, idx)
    positions = ndi.maximum_position(suv, labels, idx)
    hits = []
    for k, sl in enumerate(ndi.find_objects(labels)):
        z0, z1 = sl[0].start, sl[0].stop - 1
        if not (z0 <= z <= z1):
            continue
        if abs(maxima[k] - s) > 0.1 + EPS:
            continue
        if z1 - z0 + 1 > 50 and s < 5:
            continue
        hits.append(positions[k])
    return hits


def itm(suv, p, s, voxel_ml, separable, max_iterations=100):
    """Paper step 4; returns the boolean label or None (FAIL)."""
    if voxel_ml < 0.04:
        voxel_ml = 0.04346
    seed = np.zeros(suv.shape, bool)
    seed[p] = True
    b = background(suv, seed, separable)
    t = (0.617 * b / s + 0.316) * s
    c = ndi.binary_dilation(seed, structure=N18) & (suv > t)
    if not c.any():
        return None
    t_old = s
    iteration = 0
    while abs(t_old - t) / t_old > 0.01:
        if iteration >= max_iterations:
            return None
        iteration += 1
        b = background(suv, c, separable)
        v = c.sum() * voxel_ml
        t_old = t
        t = (0.078 / v + 0.617 * b / s + 0.316) * s
        if t / s > 0.9:
            return None
        c = c | (ndi.binary_dilation(c, structure=N6) & (suv > t))
    return c


def weak_label(suv, s, z, voxel_ml, separable):
    if s < 2.5:
        return "skipped", None
    hits = match(suv, s, z)
    if not hits:
        return "not_found", None
    if len(hits) > 1:
        return "ambiguous", None
    c = itm(suv, hits[0], s, voxel_ml, separable)
    if c is None:
        return "qc_failed", None
    if abs(float(suv[c].max()) - s) > 0.2 + EPS or c[z].sum() <= 1:
        return "qc_failed", None
    return "labelled", c


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    separable = "--separable" in sys.argv
    if len(args) != 1:
        sys.exit(__doc__)
    d = Path(args[0])
    meta = json.loads((d / "findings.json").read_text())
    dims = tuple(meta["dims"])
    # float64 as the paper's pipeline gets from nibabel's get_fdata().
    suv = np.fromfile(d / "volume.f32", dtype="<f4").reshape(dims).astype(np.float64)
    flat_n = suv.size
    total_ref, total_ours, same_kind, identical = 0.0, 0.0, 0, 0
    inter, union = 0, 0
    mode = "separable 1-D dilations" if separable else "np.ones((7,7,7)) dilation"
    print(f"reference ({mode}) on {dims}, {len(meta['findings'])} findings")
    for f in meta["findings"]:
        t = time.perf_counter()
        kind, c = weak_label(suv, f["suv"], f["z"], meta["voxel_ml"], separable)
        ms = (time.perf_counter() - t) * 1e3
        ref = set(np.flatnonzero(c).tolist()) if c is not None else set()
        ours = set(f["ours"]["voxels"])
        assert all(0 <= v < flat_n for v in ours)
        inter += len(ref & ours)
        union += len(ref | ours)
        same_kind += kind == f["ours"]["kind"]
        identical += kind == f["ours"]["kind"] and ref == ours
        total_ref += ms
        total_ours += f["ours"]["ms"]
        print(
            f"S {f['suv']:>5} z {f['z']:>3}: ref {kind:<9} {len(ref):>4} vox {ms:9.1f} ms | "
            f"ours {f['ours']['kind']:<9} {len(ours):>4} vox {f['ours']['ms']:7.2f} ms | "
            f"same voxels {ref == ours}"
        )
    n = len(meta["findings"])
    agreement = inter / union if union else 1.0
    print(f"outcome kinds agree: {same_kind}/{n}; identical labels: {identical}/{n}")
    print(f"voxel agreement (|ref & ours| / |ref | ours|): {agreement:.6f} ({inter}/{union})")
    print(
        f"time: reference {total_ref:.1f} ms, ours {total_ours:.2f} ms "
        f"({total_ours / n:.2f} ms per finding); ours is {total_ref / total_ours:.0f}x faster"
    )


if __name__ == "__main__":
    main()
