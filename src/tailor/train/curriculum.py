"""RPO's progressive multi-context curriculum: the number of retrieved profile items
(shots) the reflection model sees grows stepwise with the RL epoch, from 2 to 6."""


def shots(epoch: int, epochs_per_step: int, start: int = 2, cap: int = 6) -> int:
    """k = min(cap, start + floor((epoch - 1) / epochs_per_step)) for 1-based ``epoch``:
    one more shot every ``epochs_per_step`` epochs (RPO's K(e), E_step = epochs_per_step)."""
    if epoch < 1:
        raise ValueError(f"epoch counts from 1, got {epoch}")
    if epochs_per_step < 1:
        raise ValueError(f"epochs_per_step must be at least 1, got {epochs_per_step}")
    return min(cap, start + (epoch - 1) // epochs_per_step)
