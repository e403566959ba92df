"""Reference for bench/patches.ts: the same tiling done the straightforward NumPy + PIL way.

For every MT_<class>/Imgs/<name>.jpg under the data folder (sorted by class, then name): open the
photo and its <name>.png mask with PIL, take a regular grid of size×size patches (top-left corners
0, stride, 2·stride, … while the patch fits), copy each patch as float32 scaled by 1/255, and label
it anomalous when the fraction of its mask pixels above 127 is > threshold.

Prints one JSON line: {"images", "patches", "anomalous", "seconds", "patches_per_s"}; the time is
end to end (decode included) of the second of two passes (the first warms the file cache, as the
TypeScript side does).

usage: /usr/bin/python3 bench/patches_reference.py DATA_DIR [SIZE STRIDE THRESHOLD]
"""
import json
import os
import sys
import time

import numpy as np
from PIL import Image


def list_images(root):
    out = []
    for cls in sorted(d for d in os.listdir(root) if d.startswith("MT_")):
        imgs = os.path.join(root, cls, "Imgs")
        if not os.path.isdir(imgs):
            continue
        for name in sorted(f for f in os.listdir(imgs) if f.endswith(".jpg")):
            out.append((os.path.join(imgs, name), os.path.join(imgs, name[:-4] + ".png")))
    return out


def gray(path):
    a = np.asarray(Image.open(path))
    return a if a.ndim == 2 else a[..., 0]


def one_pass(files, size, stride, threshold):
    patches = 0
    anomalous = 0
    scale = np.float32(1.0 / 255.0)
    for jpg, png in files:
        img = gray(jpg)
        mask = gray(png) > 127
        h, w = img.shape
        ys = range(0, h - size + 1, stride)
        xs = range(0, w - size + 1, stride)
        out = np.empty((len(ys) * len(xs), size, size, 1), dtype=np.float32)
        k = 0
        for y in ys:
            for x in xs:
                out[k, :, :, 0] = img[y:y + size, x:x + size].astype(np.float32) * scale
                if mask[y:y + size, x:x + size].mean() > threshold:
                    anomalous += 1
                k += 1
        patches += k
    return patches, anomalous


def main():
    root = sys.argv[1]
    size = int(sys.argv[2]) if len(sys.argv) > 2 else 32
    stride = int(sys.argv[3]) if len(sys.argv) > 3 else 16
    threshold = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0
    files = list_images(root)
    one_pass(files, size, stride, threshold)
    t0 = time.perf_counter()
    patches, anomalous = one_pass(files, size, stride, threshold)
    seconds = time.perf_counter() - t0
    print(json.dumps({"images": len(files), "patches": patches, "anomalous": anomalous,
                      "seconds": seconds, "patches_per_s": patches / seconds}))


if __name__ == "__main__":
    main()
