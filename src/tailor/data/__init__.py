"""Datasets: the Example schema, loaders for the LaMP family, and the bundled sample."""

from pathlib import Path

from tailor.data.loaders import load_examples
from tailor.data.schema import Aspect, Example, ProfileItem

SAMPLE_LAMPQA = Path(__file__).parent / "sample" / "lampqa"
SAMPLE_LONGLAMP = Path(__file__).parent / "sample" / "longlamp"  # four task folders
SAMPLE_LAMP = Path(__file__).parent / "sample" / "lamp"  # LaMP-<n>/<user|time>/ folders
SAMPLE_PLANTED = Path(__file__).parent / "sample" / "planted"  # tailor.data.planted's default spec

__all__ = ["SAMPLE_LAMP", "SAMPLE_LAMPQA", "SAMPLE_PLANTED", "SAMPLE_LONGLAMP", "Aspect", "Example", "ProfileItem", "load_examples"]
