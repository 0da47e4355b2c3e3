"""The API's one error table: every class maps to the status docs/architecture.md gives,
and the most specific class of a raised error decides."""

from __future__ import annotations

import re
from pathlib import Path

from airtrack import errors
from airtrack.api.app import ERROR_STATUS, error_status

DOC = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"


def _documented() -> dict[str, int]:
    text = DOC.read_text().split("## API errors", 1)[1].split("\n## ", 1)[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^\| `(\w+)` \| (\d{3})\b", text, re.M)}


def test_the_table_is_the_documented_one() -> None:
    assert {cls.__name__: status for cls, status in ERROR_STATUS.items()} == _documented()


def test_each_class_answers_its_status_and_subclasses_the_most_specific() -> None:
    for cls, status in ERROR_STATUS.items():
        assert error_status(cls.__new__(cls)) == status, cls.__name__
    # a subclass not in the table answers as its nearest listed ancestor
    assert error_status(errors.CircuitOpen("open")) == 503
    assert error_status(errors.TransactionTooLong("long")) == 500
    assert error_status(errors.IntegrityViolation("dup")) == 500
    assert error_status(errors.ReportTemplateError("bad")) == 400
    assert error_status(errors.StreamImportError("bad file")) == 422
    assert error_status(errors.MetadataImportError("bad file")) == 422
    assert error_status(errors.InvalidIdentifier("bad isrc")) == 422
    # not an answer the API gives on purpose
    assert error_status(errors.ConfigError("x")) is None
    assert error_status(ValueError("x")) is None


def test_every_class_in_the_table_is_in_the_one_tree() -> None:
    for cls in ERROR_STATUS:
        assert issubclass(cls, errors.AirtrackError)
        assert getattr(errors, cls.__name__) is cls
