"""What ``catalog add`` is given: files and folders → candidates, one-line problems, names.

``discover`` walks folders recursively in sorted order and keeps every path as the user
wrote it (a folder's files are that folder as given joined with their relative path): that
string is the track's ``source``.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

__all__ = [
    "AUDIO_EXTENSIONS",
    "Candidate",
    "FileResult",
    "IngestSummary",
    "Status",
    "discover",
    "os_reason",
    "tags_from_name",
    "truncated",
]

#: File types picked up inside folders (a file named on the command line is always tried).
# fmt: off
AUDIO_EXTENSIONS = frozenset({
    "mp3", "mp2", "ogg", "oga", "opus", "flac", "wav", "wave", "aif", "aiff", "aifc", "m4a",
    "m4b", "mp4", "aac", "ac3", "wma", "mka", "webm", "wv", "ape", "caf", "amr", "3gp",
})
# fmt: on
Status = Literal["added", "duplicate", "updated", "failed", "ignored"]

#: A file that decodes to less than this share of its announced length is truncated or
#: damaged (``catalog add`` refuses it; ``scan`` warns): the rest of it was never heard.
TRUNCATED_FRACTION = 0.8
#: Slack for headers that round or estimate their length (VBR MP3 without a Xing frame).
TRUNCATED_SLACK_S = 2.0


def truncated(decoded_s: float, announced_s: float | None) -> bool:
    """True when far less audio decoded than the container header announces."""
    if not announced_s:
        return False
    return decoded_s < TRUNCATED_FRACTION * announced_s - TRUNCATED_SLACK_S


@dataclass(frozen=True, slots=True)
class Candidate:
    """A file to ingest: ``path`` to open, ``source`` as it will be stored."""

    path: str
    source: str


@dataclass(frozen=True, slots=True)
class FileResult:
    """What happened to one input; ``reason`` is one line for ``failed``/``ignored``."""

    source: str
    status: Status
    reason: str = ""
    track_id: int | None = None
    title: str | None = None
    artist: str | None = None
    duration_s: float | None = None


@dataclass(slots=True)
class IngestSummary:
    added: int = 0
    duplicates: int = 0
    updated: int = 0
    failed: int = 0
    ignored: int = 0
    results_seen: int = 0
    #: seconds of audio fingerprinted (added or updated files)
    audio_s: float = 0.0
    #: the failed files, for the list at the end of a long batch
    failures: list[FileResult] = field(default_factory=list)

    def count(self, result: FileResult) -> None:
        self.results_seen += 1
        if result.status in ("added", "updated"):
            self.audio_s += result.duration_s or 0.0
        if result.status == "added":
            self.added += 1
        elif result.status == "duplicate":
            self.duplicates += 1
        elif result.status == "updated":
            self.updated += 1
        elif result.status == "failed":
            self.failed += 1
            self.failures.append(result)
        else:
            self.ignored += 1

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0


# -- discovery ---------------------------------------------------------------------------


def discover(paths: Sequence[str]) -> Iterator[Candidate | FileResult]:
    """Files to ingest, in order; folders are walked recursively (sorted).

    ``source`` is the path as given; inside a given folder it is that folder as given joined
    with the file's relative path.  Problems come out as ``FileResult`` lines.
    """
    for given in paths:
        try:
            st = os.stat(given)
        except OSError as exc:
            yield FileResult(given, "failed", os_reason(exc))
            continue
        if stat.S_ISDIR(st.st_mode):
            yield from _walk(given)
        elif stat.S_ISREG(st.st_mode):
            yield Candidate(given, given)
        else:
            yield FileResult(given, "failed", "not a regular file")


def _walk(top: str) -> Iterator[Candidate | FileResult]:
    errors: list[OSError] = []
    for root, dirs, files in os.walk(top, onerror=errors.append):
        while errors:
            error = errors.pop()
            yield FileResult(error.filename or root, "failed", os_reason(error))
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            ext = os.path.splitext(name)[1].lower().lstrip(".")
            if ext not in AUDIO_EXTENSIONS:
                yield FileResult(path, "ignored", "not an audio file type")
                continue
            try:
                st = os.stat(path)
            except OSError as exc:
                yield FileResult(path, "failed", os_reason(exc))
                continue
            if not stat.S_ISREG(st.st_mode):
                yield FileResult(path, "failed", "not a regular file")
            else:
                yield Candidate(path, path)
    while errors:
        error = errors.pop()
        yield FileResult(error.filename or top, "failed", os_reason(error))


def os_reason(exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return "no such file or directory"
    if isinstance(exc, PermissionError):
        return "permission denied"
    return f"cannot read ({exc.strerror or exc})"


def tags_from_name(path: str) -> tuple[str, str | None]:
    """``(title, artist)`` from a file name: "Artist - Title.mp3" → split, else the stem."""
    stem = Path(path).stem.strip()
    parts = [p.strip() for p in stem.split(" - ")]
    if len(parts) >= 3 and parts[0].isdigit():  # "01 - Artist - Title"
        parts = parts[1:]
    if len(parts) >= 2 and parts[0] and parts[1]:
        return " - ".join(parts[1:]), parts[0]
    return stem or Path(path).name, None
