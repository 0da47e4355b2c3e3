"""Recognition core: decode → landmarks → prints → index → streaming matcher.  Pure: no DB.

Engine: mono 8000 Hz; STFT 1024/256 (32 ms frames); peaks = local maxima of ±10 frames ×
±14 bins in 250–3800 Hz; pairs anchor→5 later peaks (dt ≤ 63 frames, |ln f2/f1| ≤ 0.75);
20-bit hash = ln f1 (2.15 % steps) | ln f2/f1 (1.5 % steps) | dt, plus a 12-bit fine key per
pair from a sibling target of its anchor (prints v2): the index reads a hash bucket of more
than 32 postings only at the fine keys the query probes (``evidence.probe_fines``), so a
big catalog does not blind the lookup (docs/scaling.md).  Speed changes (pitch and
tempo together) are handled at query time: each query pair is re-quantised for every speed
in ``SPEEDS`` (0.97 … 1.03, 1 % steps) in one vectorised pass and one index lookup, so the
catalog is stored once.

Catalog ingest (the catalog package does the DB part)::

    prints = fingerprint_file(path)          # AudioError on bad input, one-line reason
    blob = pack_prints(prints)               # bytes for tracks.fingerprint (bytea)
    title, artist = read_tags(path)          # None where the container has no tag
    duration = prints.duration_s             # or probe_duration(path)

Snapshot: ``index = Index.build(rows)`` with rows ``(track_id, blob)``; ``index.version``
(content hash) names it; ``index.save(path)`` / ``Index.load(path)`` (memory-mapped).

Matching, live::

    m = StreamingMatcher(index)               # threshold=DEFAULT_THRESHOLD (0.5)
    for block in decode(url, read_timeout_s=10):
        for event in m.feed(block):          # PlayStarted / PlayEnded, seconds from first sample
            ...
    m.close()

Offline: ``scan_file(path, index) -> list[Play]``, ``identify(clip_or_samples, index) ->
Match | None`` — both run ``StreamingMatcher``.  Evidence for a play = distinct query
anchor frames whose pairs hit one (track, speed, alignment ±2 frames) within an 8 s window;
confidence = ``1 - exp(-(evidence - 8) / 8.5)``, so the default threshold 0.5 needs ≥ 14
anchors on every station (chance alignments reached ≤ 10 on the real-music benchmark, real
airings ≥ 25).  Files decode inside FFmpeg (lavfi ``amovie`` + ``aresample``) in 16-s blocks.
"""

from airtrack.fingerprint.decode import (
    MIN_DURATION_S,
    decode,
    decode_ahead,
    probe_duration,
    read_tags,
)
from airtrack.fingerprint.index import Index
from airtrack.fingerprint.landmarks import (
    LandmarkExtractor,
    Pairs,
    Prints,
    fingerprint_file,
    fingerprint_samples,
    hash_pairs,
    pack_prints,
    unpack_prints,
)
from airtrack.fingerprint.matcher import (
    DEFAULT_THRESHOLD,
    Match,
    Play,
    PlayEnded,
    PlayEvent,
    PlayStarted,
    StreamingMatcher,
    confidence_of,
    identify,
    plays_from_events,
    scan_file,
    scan_samples,
)
from airtrack.fingerprint.params import PRINTS_VERSION, SAMPLE_RATE, SPEEDS

__all__ = [
    "DEFAULT_THRESHOLD",
    "MIN_DURATION_S",
    "PRINTS_VERSION",
    "SAMPLE_RATE",
    "SPEEDS",
    "Index",
    "LandmarkExtractor",
    "Match",
    "Pairs",
    "Play",
    "PlayEnded",
    "PlayEvent",
    "PlayStarted",
    "Prints",
    "StreamingMatcher",
    "confidence_of",
    "decode",
    "decode_ahead",
    "fingerprint_file",
    "fingerprint_samples",
    "hash_pairs",
    "identify",
    "pack_prints",
    "plays_from_events",
    "probe_duration",
    "read_tags",
    "scan_file",
    "scan_samples",
    "unpack_prints",
]
