"""Control runs: a loop run exactly as its recipe says, except that the signal it learns
from is broken on purpose, so a learning check can tell what the signal itself brings.
A control's result is never a method's result; its run names the control (its config's
``reward_control``, the report's E-step table and the run's title)."""

import random
from typing import Literal

RewardControl = Literal["none", "permuted"]

CONTROL_NAMES: dict[str, str] = {"none": "the metric's", "permuted": "permuted across training examples (a control)"}


def controlled_rewards(rows: list[dict], control: RewardControl, seed: str) -> list[dict]:
    """The scored sample rows with the rewards the selection sees. ``none``: as the metric
    scored them. ``permuted``: the scores of the rows that have one are shuffled among them
    (seeded by ``seed``) across every sample of every training example, so a kept reply was
    rewarded for another reply, most likely another example's; the rewards' distribution, and
    so how many replies pass a threshold, stays the same. Each row then keeps the metric's
    own score as ``metric_score``; rows without a score (unparsed) stay without one."""
    if control == "none":
        return rows
    scored = [i for i, row in enumerate(rows) if row["score"] is not None]
    rewards = [rows[i]["score"] for i in scored]
    random.Random(seed).shuffle(rewards)
    out = list(rows)
    for i, reward in zip(scored, rewards):
        out[i] = {**rows[i], "score": reward, "metric_score": rows[i]["score"]}
    return out
