"""A recipe run with another seed, in a folder of its own: ``tailor train <kind> --seed N``
and the learning table's seeds (``tailor train learn``).

A recipe has two kinds of seed: ``seed`` seeds sampling (each answer, sample and feedback
is drawn with a seed spaced from it, and the held-out test's answers with it), and each
fine-tuning stage's settings (``sft``, RPO's ``rl``; DPO's are built from ``sft``) seed the
adapter's initialisation and the data order. A training seed is all of them at once.

The run with the recipe's own seeds stays in its ``run_dir`` (the run the README's command
makes is the table's first seed); any other seed runs in ``<run_dir>/seed-<N>``, its
variants inside it as always (``runs/learn-vac/seed-1/frozen``)."""

from pathlib import Path

from tailor.train.sft import SFTSettings
from tailor.train.stages import LoopConfig


def seeded_settings(config: LoopConfig) -> list[str]:
    """The config's fine-tuning settings, each of which holds a seed of its own."""
    return [name for name in type(config).model_fields if isinstance(getattr(config, name), SFTSettings)]


def reseeded(config: LoopConfig, seed: int) -> LoopConfig:
    """``config`` with every seed set to ``seed``: sampling's and every fine-tuning stage's,
    in the recipe and in each variant's changes (a variant that replaces ``sft`` is given the
    seed too)."""
    nested = seeded_settings(config)
    changes: dict = {"seed": seed, **{name: getattr(config, name).model_copy(update={"seed": seed}) for name in nested}}
    variants = {}
    for name, changed in config.variants.items():
        variant = {**changed, **({"seed": seed} if "seed" in changed else {})}
        variants[name] = variant | {key: {**variant[key], "seed": seed} for key in nested if isinstance(variant.get(key), dict)}
    return config.model_copy(update={**changes, "variants": variants})


def seed_run_dir(config: LoopConfig, seed: int) -> Path:
    """Where the recipe's run with ``seed`` lives: its ``run_dir`` when that seed is the
    recipe's own (nothing staged changes), else ``<run_dir>/seed-<seed>``."""
    if reseeded(config, seed).staged() == config.staged():
        return Path(config.run_dir)
    return Path(config.run_dir) / f"seed-{seed}"


def seed_run(config: LoopConfig, seed: int) -> LoopConfig:
    """The recipe's run with ``seed``, in its folder (``seed_run_dir``)."""
    return reseeded(config, seed).model_copy(update={"run_dir": seed_run_dir(config, seed)})
