"""ISRC and ISWC: validate and normalise (pure; no I/O).

* ISRC (ISO 3901): country (2 letters), registrant (3 alphanumerics), year (2 digits),
  designation (5 digits) — 12 characters, no check character.  Written with hyphens or
  spaces and in any case; stored upper case without separators (``USRC17607839``).
* ISWC (ISO 15707): ``T``, nine digits, one check digit.  Written with or without hyphens
  and dots; stored as ``T-034524680-1``.  The check digit is
  ``(10 - (1 + Σ i·dᵢ) mod 10) mod 10`` over the nine digits, i = 1…9.

Both raise :class:`~airtrack.errors.InvalidIdentifier` with a one-line reason.
"""

from __future__ import annotations

import re

from airtrack.errors import InvalidIdentifier

__all__ = ["iswc_check_digit", "normalise_isrc", "normalise_iswc"]

_ISRC = re.compile(r"^[A-Z]{2}[A-Z0-9]{3}[0-9]{7}$")
_ISWC = re.compile(r"^T([0-9]{9})([0-9])$")
_SEPARATORS = re.compile(r"[\s\-.]")


def normalise_isrc(text: str) -> str:
    """``us-rc1-76-07839`` → ``USRC17607839``; raises ``InvalidIdentifier``."""
    code = re.sub(r"[\s\-]", "", text).upper()
    if not _ISRC.match(code):
        raise InvalidIdentifier(
            f"invalid ISRC {text!r}: expected 12 characters CC-XXX-YY-NNNNN "
            "(country letters, registrant, year, designation digits)"
        )
    return code


def iswc_check_digit(digits: str) -> int:
    """The ISWC check digit of nine digits."""
    total = 1 + sum(i * int(d) for i, d in enumerate(digits, start=1))
    return (10 - total % 10) % 10


def normalise_iswc(text: str) -> str:
    """``T0345246801`` / ``t-034.524.680-1`` → ``T-034524680-1``; raises ``InvalidIdentifier``."""
    code = _SEPARATORS.sub("", text).upper()
    m = _ISWC.match(code)
    if m is None:
        raise InvalidIdentifier(
            f"invalid ISWC {text!r}: expected T followed by nine digits and a check digit"
        )
    digits, check = m.group(1), int(m.group(2))
    want = iswc_check_digit(digits)
    if check != want:
        raise InvalidIdentifier(f"invalid ISWC {text!r}: check digit is {check}, should be {want}")
    return f"T-{digits}-{check}"
