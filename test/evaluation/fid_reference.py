"""FID as pytorch-fid computes it (scipy.linalg.sqrtm of the covariance product), the independent
check of evaluation/fid.ts.

stdin: JSON {"cases": [{"a": path, "b": path, "n1": int, "n2": int, "dim": int}]}, each path a file
of n × dim little-endian float64 values, row-major (one feature vector per row).
stdout: JSON {"scipy": version, "results": [{"fid", "mean_term", "cov_term", "imag"}]}, "imag" being
the largest imaginary part sqrtm left (pytorch-fid drops it, as here).
"""
import json
import sys

import numpy as np
import scipy
from scipy import linalg


def fid(x1, x2):
    mu1, mu2 = x1.mean(axis=0), x2.mean(axis=0)
    s1 = np.atleast_2d(np.cov(x1, rowvar=False))  # n - 1
    s2 = np.atleast_2d(np.cov(x2, rowvar=False))
    diff = mu1 - mu2
    covmean, _ = linalg.sqrtm(s1.dot(s2), disp=False)
    if not np.isfinite(covmean).all():
        offset = np.eye(s1.shape[0]) * 1e-6
        covmean = linalg.sqrtm((s1 + offset).dot(s2 + offset))
    imag = 0.0
    if np.iscomplexobj(covmean):
        imag = float(np.max(np.abs(covmean.imag)))
        covmean = covmean.real
    mean_term = float(diff.dot(diff))
    cov_term = float(np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))
    return {"fid": mean_term + cov_term, "mean_term": mean_term, "cov_term": cov_term, "imag": imag}


def main():
    req = json.load(sys.stdin)
    out = []
    for c in req["cases"]:
        x1 = np.fromfile(c["a"], dtype="<f8").reshape(c["n1"], c["dim"])
        x2 = np.fromfile(c["b"], dtype="<f8").reshape(c["n2"], c["dim"])
        out.append(fid(x1, x2))
    json.dump({"scipy": scipy.__version__, "results": out}, sys.stdout)


if __name__ == "__main__":
    main()
