"""Significance as the papers test it: a two-sided paired t-test over the same examples'
scores, shared by the evaluation reports and the training loops' held-out test; and at the
level of users, with Holm's correction over a family of comparisons and a user-level
bootstrap interval, for the learning table (``tailor.train.learning_table``)."""

import hashlib
import json
import math
import warnings
from collections.abc import Iterable, Mapping, Sequence


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


# --- user-level statistics --------------------------------------------------------------------
# A user's questions (and a recipe's seeds) are not independent draws: two questions of one
# user often need the same fact, so a policy that learned that user's fact gains on both.
# The unit of the test is therefore the user: each user's mean over every scored question and
# seed is one observation, and two systems are compared over the users both scored.


def user_means(runs: Iterable[Mapping[str, float | None]], user_of: Mapping[str, str]) -> dict[str, float]:
    """Each user's mean score over every scored (question, run) of theirs; ``runs`` holds one
    question id → score map per seed (a baseline: one), ``user_of`` each question's user (a
    question it does not name is its own user)."""
    pooled: dict[str, list[float]] = {}
    for scores in runs:
        for question, value in scores.items():
            if value is not None:
                pooled.setdefault(user_of.get(question, question), []).append(value)
    return {user: sum(values) / len(values) for user, values in pooled.items()}


def user_level_p_value(
    method: Iterable[Mapping[str, float | None]], baseline: Iterable[Mapping[str, float | None]], user_of: Mapping[str, str],
) -> float | None:
    """Two-sided paired t-test over users (``paired_p_value`` on ``user_means``); None when
    fewer than two users have both, or the test is undefined.

    A t-test rather than Wilcoxon's signed-rank test: a user's mean over two questions and
    three seeds is close to continuous, so the t-test's normality is a fair guess, while the
    signed-rank test drops every user whose difference is zero and ranks heavily tied
    differences (the planted metrics score in quarters and halves), which with 24 users
    throws away much of the sample; the t-test is also the one tailor's question-level
    reports already use, so the two levels differ only in their unit."""
    a, b = user_means(method, user_of), user_means(baseline, user_of)
    return paired_p_value(a, b, sorted(a.keys() & b.keys()))


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjustment over one family of tests: the i-th smallest p is
    multiplied by (m - i + 1), made no smaller than any smaller p's adjusted value, and
    capped at 1. A test that could not be run (None) still counts in the family's size m
    (ranked last, as p = 1) and stays None."""
    m = len(p_values)
    ranked = sorted(range(m), key=lambda i: (p_values[i] is None, p_values[i] or 0.0))
    adjusted: list[float | None] = [None] * m
    running = 0.0
    for rank, i in enumerate(ranked):
        p = p_values[i]
        running = max(running, min(1.0, (m - rank) * (1.0 if p is None else p)))
        adjusted[i] = None if p is None else running
    return adjusted


def bootstrap_interval(values: Sequence[float], level: float = 0.95, rounds: int = 2000, seed: int = 0) -> tuple[float, float] | None:
    """A percentile bootstrap interval of the mean of ``values`` (per-user means: users are
    resampled, with replacement); None for fewer than two values. Seeded, so a report
    rebuilt from the same runs draws the same interval."""
    if len(values) < 2:
        return None
    import numpy as np

    data = np.asarray(values, dtype=float)
    means = data[np.random.default_rng(seed).integers(0, len(data), size=(rounds, len(data)))].mean(axis=1)
    low, high = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)
