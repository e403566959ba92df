"""Independent reference values for test/evaluation/reference.test.ts.

Reads {"cases": [...]} as JSON on stdin, prints {"results": [...]} (one per case, or
{"error": message} where the reference itself rejects the input). Two kinds of case:

- "binary": scores and 0/1 labels (optional per-sample classes, thresholds, percentiles) ->
  scikit-learn's roc_auc_score, average_precision_score, auc(recall, precision) over
  precision_recall_curve, the curve itself, precision/recall/F1 at each threshold
  (precision_recall_fscore_support on score >= threshold), the best F1 by brute force, numpy's
  percentile, and per-class AUROC (each anomaly class against every normal).
- "chosen": a validation and a test vector -> the threshold chosen on validation (the best F1,
  found by brute force over np.unique(validation scores) with exact fractions, ties to the
  highest threshold; np.percentile(validation scores, p) where validation has no anomaly) and
  the test set's precision/recall/F1 at it (precision_recall_fscore_support).
- "pro": anomaly maps with 0/1 masks -> the PRO curve and AUPRO, computed by brute force at each
  distinct threshold: regions are scipy.ndimage.label components with a 3x3 structure of ones
  (8-connectivity) per image; FPR over all normal pixels; PRO the mean per-region overlap; the
  area integrated up to the FPR limit with linear interpolation at the limit (MVTec AD's
  trapezoid(x, y, x_max)), divided by the limit.
"""
import json
import sys
from bisect import bisect
from fractions import Fraction

import numpy as np
from scipy.ndimage import label
from sklearn.metrics import (auc, average_precision_score, precision_recall_curve,
                             precision_recall_fscore_support, roc_auc_score)


def best_f1(s, y):
    """Brute force: F1 = 2tp / (tp + fp + P) as an exact fraction at every distinct score."""
    P = int((y == 1).sum())
    best = None
    for t in np.unique(s)[::-1]:
        flagged = s >= t
        tp = int((flagged & (y == 1)).sum())
        fp = int((flagged & (y == 0)).sum())
        f1 = Fraction(2 * tp, tp + fp + P)
        if best is None or f1 > best[1]:
            best = (float(t), f1)
    return {"threshold": best[0], "f1": float(best[1])}


def prf(s, y, t):
    p, r, f, _ = precision_recall_fscore_support(y, (s >= t).astype(np.int64), average="binary", zero_division=0)
    return {"threshold": t, "precision": float(p), "recall": float(r), "f1": float(f)}


def chosen(case):
    vs = np.asarray(case["val"]["scores"], dtype=np.float64)
    vy = np.asarray(case["val"]["labels"], dtype=np.int64)
    ts = np.asarray(case["test"]["scores"], dtype=np.float64)
    ty = np.asarray(case["test"]["labels"], dtype=np.int64)
    if (vy == 1).any():
        return {"source": "val-best-f1", **prf(ts, ty, best_f1(vs, vy)["threshold"])}
    return {"source": "val-percentile", **prf(ts, ty, float(np.percentile(vs, case.get("percentile", 80))))}


def binary(case):
    s = np.asarray(case["scores"], dtype=np.float64)
    y = np.asarray(case["labels"], dtype=np.int64)
    out = {}
    if (y == 0).any() and (y == 1).any():
        out["roc_auc"] = roc_auc_score(y, s)
    out["ap"] = average_precision_score(y, s)
    precision, recall, thresholds = precision_recall_curve(y, s)
    out["pr_auc"] = auc(recall, precision)
    out["pr_curve"] = {"precision": precision.tolist(), "recall": recall.tolist(), "thresholds": thresholds.tolist()}
    out["best_f1"] = best_f1(s, y)
    out["at"] = [prf(s, y, t) for t in case.get("thresholds", [])]
    out["percentiles"] = [float(np.percentile(s, q)) for q in case.get("percentiles", [])]
    if "classes" in case:
        c = np.asarray(case["classes"], dtype=object)
        per = {}
        for name in sorted(set(c[y == 1].tolist())):
            keep = (y == 0) | ((y == 1) & (c == name))
            per[name] = roc_auc_score(y[keep], s[keep])
        out["per_class"] = per
    return out


def trapezoid(x, y, x_max):
    """MVTec AD's evaluation code: the area under (x, y) up to x_max, interpolated at x_max."""
    x = np.asarray(x)
    y = np.asarray(y)
    correction = 0.0
    if x_max not in x:
        ins = bisect(x, x_max)
        assert 0 < ins < len(x)
        y_interp = y[ins - 1] + ((y[ins] - y[ins - 1]) * (x_max - x[ins - 1]) / (x[ins] - x[ins - 1]))
        correction = 0.5 * (y_interp + y[ins - 1]) * (x_max - x[ins - 1])
    mask = x <= x_max
    x = x[mask]
    y = y[mask]
    return float(np.sum(0.5 * (y[1:] + y[:-1]) * (x[1:] - x[:-1])) + correction)


def pro(case):
    structure = np.ones((3, 3), dtype=int)
    maps = [np.asarray(m["scores"], dtype=np.float64).reshape(m["height"], m["width"]) for m in case["maps"]]
    masks = [np.asarray(m["mask"], dtype=np.int64).reshape(m["height"], m["width"]) for m in case["maps"]]
    regions = []
    for k, gt in enumerate(masks):
        labelled, n = label(gt, structure)
        for r in range(1, n + 1):
            regions.append((k, labelled == r))
    ok = [gt == 0 for gt in masks]
    n_ok = sum(int(o.sum()) for o in ok)
    thresholds = np.unique(np.concatenate([m.ravel() for m in maps]))[::-1]
    fprs = [0.0]
    pros = [0.0]
    for t in thresholds:
        flagged = [m >= t for m in maps]
        fprs.append(sum(int((f & o).sum()) for f, o in zip(flagged, ok)) / n_ok)
        pros.append(float(np.mean([flagged[k][r].sum() / r.sum() for k, r in regions])))
    out = {"regions": len(regions), "fpr": fprs, "pro": pros, "thresholds": thresholds.tolist()}
    out["aupro"] = {str(lim): trapezoid(fprs, pros, lim) / lim for lim in case.get("limits", [0.3])}
    return out


def main():
    cases = json.load(sys.stdin)["cases"]
    results = []
    for case in cases:
        try:
            results.append({"binary": binary, "chosen": chosen, "pro": pro}[case["kind"]](case))
        except Exception as e:  # the reference's own refusal is a result the test checks
            results.append({"error": f"{type(e).__name__}: {e}"})
    json.dump({"results": results}, sys.stdout)


if __name__ == "__main__":
    main()
