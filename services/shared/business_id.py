"""Finnish business ID (Y-tunnus) check: one rule for the gateway (agency tokens) and
the funding rules and ledger (applicants)."""

from __future__ import annotations

import re

# ASCII digits only, the whole string: ``\d`` would take full-width and other Unicode
# digits, and ``$`` a trailing newline, each a second spelling of one business ID.
_FORMAT = re.compile(r"([0-9]{7})-([0-9])")
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2)


def business_id_check_digit(first_seven_digits: str) -> int | None:
    """The check digit of a Y-tunnus body of 7 digits, or None if no valid one exists.

    Weights 7, 9, 10, 5, 8, 4, 2; remainder 0 gives 0, remainder 1 is never issued,
    otherwise 11 - remainder (Finnish Tax Administration / PRH rule)."""
    if len(first_seven_digits) != 7 or not first_seven_digits.isascii() \
            or not first_seven_digits.isdigit():
        raise ValueError("the body of a business ID is 7 digits")
    remainder = sum(int(d) * w for d, w in zip(first_seven_digits, _WEIGHTS, strict=True)) % 11
    if remainder == 0:
        return 0
    if remainder == 1:
        return None
    return 11 - remainder


def business_id_problem(business_id: object) -> str | None:
    """Why ``business_id`` is not a valid Y-tunnus (``1234567-1``), or None if it is."""
    if not isinstance(business_id, str):
        return "must be a string like 1234567-1"
    match = _FORMAT.fullmatch(business_id)
    if match is None:
        return "must be 7 digits, a hyphen and a check digit, like 1234567-1"
    expected = business_id_check_digit(match.group(1))
    if expected is None:
        return "no valid business ID has these 7 digits (check remainder 1)"
    if int(match.group(2)) != expected:
        return f"check digit is wrong (expected {expected})"
    return None


def is_valid_business_id(business_id: object) -> bool:
    """True if ``business_id`` is a well-formed Y-tunnus with a correct check digit."""
    return business_id_problem(business_id) is None
