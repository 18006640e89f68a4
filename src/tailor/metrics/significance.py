"""Significance as the papers test it: a two-sided paired t-test over the same examples'
scores, shared by the evaluation reports and the training loops' held-out test."""

import hashlib
import json
import math
import warnings


def paired_p_value(
    method: dict[str, float | None], baseline: dict[str, float | None], ids: list[str], memo: dict[str, float | None] | None = None,
) -> float | None:
    """Two-sided paired t-test (scipy ``ttest_rel``) on the examples both scored; None when
    fewer than two pairs or the test is undefined (e.g. identical scores). ``memo`` maps a
    hash of the score pairs to their p-value: a test seen before is read back rather than
    run (importing scipy.stats alone takes about 0.6 s of a cached report's rerun)."""
    pairs = [(method[i], baseline[i]) for i in ids if method.get(i) is not None and baseline.get(i) is not None]
    if len(pairs) < 2:
        return None
    key = hashlib.sha256(json.dumps(pairs).encode()).hexdigest()[:32] if memo is not None else ""
    if memo is not None and key in memo:
        return memo[key]
    from scipy.stats import ttest_rel

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        p = float(ttest_rel([a for a, _ in pairs], [b for _, b in pairs]).pvalue)
    p = p if math.isfinite(p) else None
    if memo is not None:
        memo[key] = p
    return p
