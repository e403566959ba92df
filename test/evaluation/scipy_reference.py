"""Independent reference for evaluation/statistics.ts (the tests run it; not part of gantry).

JSON on stdin: {"cases": [{"a": [...], "b": [...]}, ...], "families": [[p, ...], ...]}
JSON on stdout: per case the paired statistics of d = a - b, per family the Holm-adjusted p-values.

- wilcoxon_p: scipy.stats.wilcoxon, two-sided, zero_method='wilcox', correction=True, with the
  mode gantry documents (the rule of @stdlib/stats-wilcoxon): exact when at most 50 non-zero
  differences remain and there are no zeros and no tied magnitudes, else the normal approximation.
- perm_p: the paired sign-flip test by plain enumeration of all 2^n sign vectors (n <= 16 here),
  two-sided on |sum|, sums within 1e-9 * sum|d| of the observed one counted as equal.
- perm_p_scipy: scipy.stats.permutation_test (permutation_type='samples', exact) for n <= 10.
- rank_biserial: (R+ - R-) / (R+ + R-) over scipy.stats.rankdata(|d|) of the non-zero d.
- holm: Holm's step-down adjustment written out (sorted p times (m - i), running max, capped at 1).
"""
import itertools
import json
import sys
import warnings

import numpy as np
import scipy
from scipy import stats


def wilcoxon_p(d):
    nz = d[d != 0]
    if len(nz) == 0:
        return None, None
    ties = len(np.unique(np.abs(nz))) != len(nz)
    zeros = len(d) - len(nz)
    mode = 'exact' if len(nz) <= 50 and zeros == 0 and not ties else 'approx'
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        r = stats.wilcoxon(d, zero_method='wilcox', correction=True, alternative='two-sided', mode=mode)
    return float(r.pvalue), mode


def perm_p(d):
    n = len(d)
    if n > 16:
        return None
    obs = abs(float(np.sum(d)))
    tol = 1e-9 * float(np.sum(np.abs(d)))
    hits = 0
    for signs in itertools.product((1.0, -1.0), repeat=n):
        s = 0.0
        for x, g in zip(d, signs):
            s += g * x
        if abs(s) >= obs - tol:
            hits += 1
    return hits / 2 ** n


def perm_p_scipy(a, b):
    if len(a) > 10:
        return None
    r = stats.permutation_test((a, b), lambda x, y: np.mean(x - y), permutation_type='samples',
                               alternative='two-sided', n_resamples=np.inf)
    return float(r.pvalue)


def rank_biserial(d):
    nz = d[d != 0]
    if len(nz) == 0:
        return 0.0
    r = stats.rankdata(np.abs(nz))
    plus = float(np.sum(r[nz > 0]))
    minus = float(np.sum(r[nz < 0]))
    return (plus - minus) / (plus + minus)


def holm(ps):
    m = len(ps)
    order = sorted(range(m), key=lambda i: ps[i])
    out = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, (m - rank) * ps[i])
        out[i] = min(1.0, running)
    return out


def main():
    req = json.load(sys.stdin)
    cases = []
    for c in req.get('cases', []):
        a = np.asarray(c['a'], dtype=float)
        b = np.asarray(c['b'], dtype=float)
        d = a - b
        wp, mode = wilcoxon_p(d) if len(d) >= 2 else (None, None)
        cases.append({
            'n': int(len(d)),
            'mean_a': float(np.mean(a)) if len(a) else None,
            'std_a': float(np.std(a, ddof=1)) if len(a) > 1 else None,
            'mean_diff': float(np.mean(d)) if len(d) else None,
            'wilcoxon_p': wp,
            'wilcoxon_mode': mode,
            'perm_p': perm_p(d) if len(d) else None,
            'perm_p_scipy': perm_p_scipy(a, b) if len(d) else None,
            'rank_biserial': rank_biserial(d),
        })
    json.dump({'scipy': scipy.__version__, 'cases': cases,
               'holm': [holm(f) for f in req.get('families', [])]}, sys.stdout)


if __name__ == '__main__':
    main()
