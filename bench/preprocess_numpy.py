#!/usr/bin/python3
"""The preprocessing of bench/preprocess_bench.cpp in numpy + scipy.ndimage + scikit-image.

Same steps on the same voxels (DIR/ct.f32 written by bench_preprocess): brain window, brain
extraction (head mask with opening + largest component + geodesic dilation + hole filling;
candidate soft tissue minus dilated bone; opening; largest component; geodesic dilation back;
closing; bone removed; holes filled per slice), resize to 256x256 (bilinear, no anti-aliasing),
z-score inside the brain. Structuring elements are the same mm balls. Prints JSON.
Usage: /usr/bin/python3 bench/preprocess_numpy.py DIR [REPEATS]
"""
import json
import sys
import time

import numpy as np
from scipy import ndimage as ndi
from skimage.transform import resize


def ball(spacing, radius):
    rz, ry, rx = (int(np.floor(radius / s + 1e-9)) for s in spacing)
    z, y, x = np.ogrid[-rz:rz + 1, -ry:ry + 1, -rx:rx + 1]
    d2 = (z * spacing[0]) ** 2 + (y * spacing[1]) ** 2 + (x * spacing[2]) ** 2
    return d2 <= radius * radius * (1 + 1e-9)


def largest(mask):
    # 6-connectivity, as tomograd.
    labels, n = ndi.label(mask)
    if n == 0:
        return mask
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return labels == sizes.argmax()


def geodesic(marker, domain, steps):
    if steps <= 0:
        return marker & domain
    return ndi.binary_dilation(marker & domain, iterations=steps, mask=domain)


def fill_holes_2d(mask):
    out = np.empty_like(mask)
    for k in range(mask.shape[0]):
        out[k] = ndi.binary_fill_holes(mask[k])
    return out


def opening(mask, spacing, r):
    s = ball(spacing, r)
    # border_value=1 for the erosion: the volume's faces do not erode (as tomograd/OpenCV).
    return ndi.binary_dilation(ndi.binary_erosion(mask, s, border_value=1), s)


def closing(mask, spacing, r):
    s = ball(spacing, r)
    return ndi.binary_erosion(ndi.binary_dilation(mask, s), s, border_value=1)


def extract_brain(hu, spacing):
    step = min(spacing[1], spacing[2])
    head = hu > -300
    core = largest(opening(head, spacing, 4.0))
    head = geodesic(core, head, int(np.ceil(4.0 / step)))
    head = fill_holes_2d(largest(head))
    bone = hu > 300
    soft = (hu >= -20) & (hu <= 100) & head
    candidate = soft & ~ndi.binary_dilation(bone, ball(spacing, 1.5))
    core = largest(opening(candidate, spacing, 4.0))
    brain = geodesic(core, soft, int(np.ceil((4.0 + 1.5) / step)))
    brain = closing(brain, spacing, 2.0)
    brain = brain & ~bone & head
    return fill_holes_2d(brain)


def main():
    d = sys.argv[1]
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    meta = json.load(open(f"{d}/ct.json"))
    shape, spacing = tuple(meta["shape"]), tuple(meta["spacing_mm"])
    hu = np.fromfile(f"{d}/ct.f32", dtype="<f4").reshape(shape)
    truth = np.fromfile(f"{d}/brain.u8", dtype=np.uint8).reshape(shape) > 0
    best, best_extract = 1e9, 1e9
    for _ in range(repeats):
        t0 = time.perf_counter()
        windowed = np.clip((hu - 0.0) / 80.0, 0.0, 1.0)
        brain = extract_brain(hu, spacing)
        t1 = time.perf_counter()
        masked = windowed * brain
        small = resize(masked, (shape[0], 256, 256), order=1, anti_aliasing=False, preserve_range=True)
        small_mask = resize(brain, (shape[0], 256, 256), order=0, anti_aliasing=False, preserve_range=True) > 0
        v = small[small_mask]
        out = np.where(small_mask, (small - v.mean()) / max(v.std(), 1e-6), 0.0).astype(np.float32)
        t2 = time.perf_counter()
        assert out.shape == (shape[0], 256, 256)
        best = min(best, t2 - t0)
        best_extract = min(best_extract, t1 - t0)
    dice = 2.0 * (brain & truth).sum() / (brain.sum() + truth.sum())
    print(json.dumps({"volume_seconds": best, "brain_extraction_seconds": best_extract,
                      "ms_per_slice": 1000.0 * best / shape[0], "slices_per_s": shape[0] / best,
                      "dice": float(dice)}))


if __name__ == "__main__":
    main()
