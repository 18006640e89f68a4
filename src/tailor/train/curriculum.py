"""RPO's progressive multi-context curriculum: the number of retrieved profile items
(shots) the reflection model sees grows stepwise with the RL stage, from 2 to 6, within
one epoch over the RL data (each stage trains on its own slice)."""


def shots(epoch: int, epochs_per_step: int, start: int = 2, cap: int = 6) -> int:
    """k = min(cap, start + floor((epoch - 1) / epochs_per_step)) for 1-based ``epoch``:
    one more shot every ``epochs_per_step`` epochs (RPO's K(e), E_step = epochs_per_step)."""
    if epoch < 1:
        raise ValueError(f"epoch counts from 1, got {epoch}")
    if epochs_per_step < 1:
        raise ValueError(f"epochs_per_step must be at least 1, got {epochs_per_step}")
    return min(cap, start + (epoch - 1) // epochs_per_step)


def stage_slices(inputs: int, stages: int) -> list[range]:
    """Stage t's share of ``inputs`` RL inputs, in order, as even as can be, so that the
    stages together make one epoch (the paper trains one)."""
    if stages < 1 or inputs < stages:
        raise ValueError(f"{inputs} RL inputs cannot fill {stages} stages; use fewer iterations or more data")
    bounds = [round(s * inputs / stages) for s in range(stages + 1)]
    return [range(bounds[s], bounds[s + 1]) for s in range(stages)]
