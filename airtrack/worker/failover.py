"""Which of a stream's URLs to open: the main URL, then its backups in order (pure).

After ``fail_after`` consecutive failed connections on the current URL (or one failure
that retrying cannot fix, such as a 404), the next URL is used, wrapping around.  While on
a backup, the main URL is tried again every ``primary_retry_s`` (the pipeline probes it
beside the running backup connection) and used again as soon as it answers: the main URL
is the station's own and the reports are about it.

The clock is passed in, so the rules are plain data in, plain data out.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["UrlRotation"]


class UrlRotation:
    def __init__(self, urls: Sequence[str], fail_after: int, primary_retry_s: float) -> None:
        if not urls:
            raise ValueError("a stream has at least one URL")
        self.urls = list(dict.fromkeys(urls))  # a backup equal to the main URL adds nothing
        self.fail_after = max(1, fail_after)
        self.primary_retry_s = primary_retry_s
        self.index = 0
        self.consecutive = 0
        self.next_probe_at: float | None = None

    @property
    def current(self) -> str:
        return self.urls[self.index]

    @property
    def on_backup(self) -> bool:
        return self.index != 0

    def failed(self, now: float, *, permanent: bool = False) -> bool:
        """A connection to ``current`` failed; True when this moved to another URL."""
        self.consecutive += 1
        if len(self.urls) == 1 or (self.consecutive < self.fail_after and not permanent):
            return False
        self.index = (self.index + 1) % len(self.urls)
        self.consecutive = 0
        self.next_probe_at = now + self.primary_retry_s if self.on_backup else None
        return True

    def healthy(self) -> None:
        """``current`` delivered good audio: its failures are forgiven."""
        self.consecutive = 0

    def probe_due(self, now: float) -> bool:
        """Whether to try the main URL now (on a backup, every ``primary_retry_s``);
        True schedules the next probe."""
        if not self.on_backup or self.next_probe_at is None or now < self.next_probe_at:
            return False
        self.next_probe_at = now + self.primary_retry_s
        return True

    def back_to_primary(self) -> None:
        """The main URL answered a probe: use it again."""
        self.index = 0
        self.consecutive = 0
        self.next_probe_at = None
