"""Significance as the papers test it: a two-sided paired t-test over the same examples'
scores, shared by the evaluation reports and the training loops' held-out test."""

import math
import warnings


def paired_p_value(method: dict[str, float | None], baseline: dict[str, float | None], ids: list[str]) -> float | None:
    """Two-sided paired t-test (scipy ``ttest_rel``) on the examples both scored; None when
    fewer than two pairs or the test is undefined (e.g. identical scores)."""
    from scipy.stats import ttest_rel

    pairs = [(method[i], baseline[i]) for i in ids if method.get(i) is not None and baseline.get(i) is not None]
    if len(pairs) < 2:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        p = float(ttest_rel([a for a, _ in pairs], [b for _, b in pairs]).pvalue)
    return p if math.isfinite(p) else None
