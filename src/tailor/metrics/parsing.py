"""Readers for judge outputs: a value from a fixed set, or a ValueError (which the retry
helper turns into another try, and finally into a counted failure)."""

from tailor.prompts.json_extract import extract_field


def read_choice(text: str, field: str, allowed: tuple[float, ...]) -> float:
    value = extract_field(text, field)
    try:
        number = float(value)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{field} is not a number: {value!r}") from err
    for option in allowed:
        if abs(number - option) < 1e-9:
            return option
    raise ValueError(f"{field}={number} is not one of {allowed}")
