"""User-level statistics of the learning table: a user's questions and seeds are one
observation, Holm's correction over a family of comparisons, a user-level bootstrap."""

import pytest

from tailor.metrics.significance import bootstrap_interval, holm, paired_p_value, user_level_p_value, user_means

USERS = {"q1": "ann", "q2": "ann", "q3": "bo", "q4": "cy"}
METHOD = {"q1": 1.0, "q2": 1.0, "q3": 0.5, "q4": 0.0}
BASELINE = {"q1": 0.0, "q2": 0.0, "q3": 0.5, "q4": 0.5}


def test_holm_matches_the_worked_example():
    # m = 4: sorted 0.005, 0.01, 0.03, 0.04 are multiplied by 4, 3, 2, 1 -> 0.02, 0.03, 0.06, 0.04,
    # and the last may not fall below the one before it: 0.06.
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1
    assert holm([]) == []


def test_a_test_that_could_not_run_still_counts_in_the_family():
    assert holm([0.01, None, 0.02]) == [pytest.approx(0.03), None, pytest.approx(0.04)]


def test_a_user_is_one_observation_however_many_questions_and_seeds_they_have():
    second_seed = {"q1": 0.0, "q2": 1.0, "q3": 1.0, "q4": 0.0}
    assert user_means([METHOD, second_seed], USERS) == {"ann": 0.75, "bo": 0.75, "cy": 0.0}
    assert user_means([{"q1": None, "q2": 0.5}], USERS) == {"ann": 0.5}  # an unscored answer is left out
    # user differences 1, 0, -0.5: t = 0.378 on 2 degrees of freedom, p = 2 (1 - F(t)),
    # F(t) = 1/2 + t / (2 sqrt(2 + t^2)) for two degrees of freedom
    p = user_level_p_value([METHOD], [BASELINE], USERS)
    assert p == pytest.approx(0.7418, abs=1e-4)
    # ann's second question counts once: without it the test is the same; over questions it is not
    alone = {q: v for q, v in METHOD.items() if q != "q2"}
    assert user_level_p_value([alone], [BASELINE], USERS) == pytest.approx(p)
    assert paired_p_value(METHOD, BASELINE, list(METHOD)) != pytest.approx(p)


def test_the_bootstrap_interval_of_user_means_is_seeded_and_brackets_the_mean():
    values = [0.0, 0.25, 0.5, 1.0, 1.0, 0.75]
    low, high = bootstrap_interval(values)
    assert low < sum(values) / len(values) < high and 0.0 <= low and high <= 1.0
    assert bootstrap_interval(values) == (low, high)  # the same runs draw the same interval
    more_low, more_high = bootstrap_interval(values * 4)  # four times the users: a narrower interval
    assert low < more_low and more_high < high
    assert bootstrap_interval([0.5]) is None
