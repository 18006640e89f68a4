"""Datasets: the Example schema, loaders for the LaMP family, and the bundled sample."""

from pathlib import Path

from tailor.data.loaders import load_examples
from tailor.data.schema import Aspect, Example, ProfileItem

SAMPLE_LAMPQA = Path(__file__).parent / "sample" / "lampqa"

__all__ = ["SAMPLE_LAMPQA", "Aspect", "Example", "ProfileItem", "load_examples"]
