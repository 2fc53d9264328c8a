#!/usr/bin/python3
"""The same job with pydicom + numpy: dcmread, pixel_array, rescale, sort by position, stack.

Usage: /usr/bin/python3 bench/pydicom_read.py DIR [REPEATS]   (prints one JSON line)
"""
import glob
import json
import os
import sys
import time

import numpy as np
import pydicom


def read_series(folder):
    slices = []
    for f in sorted(glob.glob(os.path.join(folder, "*.dcm"))):
        ds = pydicom.dcmread(f)
        hu = ds.pixel_array.astype(np.float32) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        slices.append((float(ds.ImagePositionPatient[2]), hu))
    slices.sort(key=lambda s: s[0])
    return np.stack([s[1] for s in slices])


def main():
    folder = sys.argv[1]
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    best = 1e9
    for _ in range(repeats):
        t0 = time.perf_counter()
        vol = read_series(folder)
        best = min(best, time.perf_counter() - t0)
    n, h, w = vol.shape
    mb = n * h * w * 2 / 1e6
    print(json.dumps({"pydicom": pydicom.__version__, "numpy": np.__version__, "slices": n,
                      "seconds": best, "slices_per_s": n / best, "mb_per_s": mb / best}))


if __name__ == "__main__":
    main()
