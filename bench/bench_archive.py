"""Fingerprint archive: cost per stream-day, and back-fill speed (docs/unknown.md).

Synthetic audio (tests/unit/_synth_music.py songs back to back): the archive holds
prints, so what matters is how many pairs a second of music makes; real broadcasts
with speech make fewer. Measured in this process, one core:

* worker: the extra CPU of archiving (cutting and encoding segments; the prints come
  from the matcher, which runs anyway) and the bytes per stream-second;
* orchestrator: the Python side of taking a segment (JSON + base64 + validation); the
  PostgreSQL insert is not measured here;
* back-fill: replay throughput (stream-seconds per CPU-second) against an index of
  100 new tracks, extrapolated to 7 days × 100 streams (not run in full);
* proof clips: the rolling buffer's CPU on the stream thread per stream-second, and
  per clip the cut and the Opus encoding (the encoder thread) and its bytes.

    python bench/bench_archive.py            # 10 min of audio
    python bench/bench_archive.py --minutes 2
"""

from __future__ import annotations

import argparse
import base64
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from airtrack.fingerprint import fingerprint_samples, pack_prints  # noqa: E402
from airtrack.fingerprint import params as P  # noqa: E402
from airtrack.fingerprint.archive import decode_segment  # noqa: E402
from airtrack.fingerprint.index import Index  # noqa: E402
from airtrack.fingerprint.landmarks import LandmarkExtractor  # noqa: E402
from airtrack.fingerprint.replay import replay_segments  # noqa: E402
from airtrack.protocol import ArchiveIn, ArchiveRequest  # noqa: E402
from airtrack.settings import Settings  # noqa: E402
from airtrack.worker.archive import ArchiveRecorder  # noqa: E402
from airtrack.worker.clip_upload import encode_opus  # noqa: E402
from airtrack.worker.clips import ClipCutter, ClipJob, ClipStats  # noqa: E402
from tests.unit._synth_music import song  # noqa: E402

DAY = 86_400


class Sink:
    def __init__(self) -> None:
        self.segments: list[ArchiveIn] = []

    def put_archive(self, segment: ArchiveIn) -> None:
        self.segments.append(segment)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--minutes", type=float, default=10.0, help="Audio archived.")
    args = ap.parse_args()
    seconds = args.minutes * 60
    audio = np.concatenate([song(1000 + i, 30) for i in range(int(seconds // 30) + 1)])
    audio = audio[: int(seconds * P.SAMPLE_RATE)]

    extractor = LandmarkExtractor()
    origin = datetime(2026, 1, 1, tzinfo=UTC)
    sink = Sink()
    rec = ArchiveRecorder(
        1, 1, sink, lambda s: origin + timedelta(seconds=s), segment_s=60, max_bytes_per_s=10**6
    )
    step = 4 * P.SAMPLE_RATE
    extract_cpu = archive_cpu = 0.0
    for i in range(0, len(audio), step):
        t0 = time.process_time()
        pairs = extractor.feed(audio[i : i + step])
        t1 = time.process_time()
        rec.on_pairs(pairs, extractor.frames)
        archive_cpu += time.process_time() - t1
        extract_cpu += t1 - t0
    t1 = time.process_time()
    rec.close(extractor.frames)
    archive_cpu += time.process_time() - t1
    data = sum(len(base64.b64decode(s.data)) for s in sink.segments)
    wire = sum(len(s.model_dump_json()) for s in sink.segments)

    body = ArchiveRequest(worker_id="w", segments=sink.segments[:5]).model_dump_json()
    t0 = time.process_time()
    n_bodies = 0
    while time.process_time() - t0 < 1.0:
        req = ArchiveRequest.model_validate_json(body)
        for s in req.segments:
            base64.b64decode(s.data)
        n_bodies += 1
    orch_cpu_per_seg = (time.process_time() - t0) / (n_bodies * len(req.segments))
    seg_s = seconds / len(sink.segments)

    print(f"archive of {seconds / 60:.0f} min of synthetic music, {len(sink.segments)} segments")
    print("| measure | per stream-second | per stream-day | 100 streams × 7 d | 1,000 × 7 d |")
    print("|---|---|---|---|---|")
    per_s = data / seconds
    for name, v in (("bytes stored", per_s), ("bytes on the wire (JSON)", wire / seconds)):
        print(
            f"| {name} | {v:.0f} B | {v * DAY / 1e6:.1f} MB | {v * DAY * 700 / 1e9:.1f} GB "
            f"| {v * DAY * 7000 / 1e9:.0f} GB |"
        )
    for name, cpu in (
        ("worker CPU, archiving (extra)", archive_cpu / seconds),
        ("worker CPU, print extraction (already done)", extract_cpu / seconds),
        ("orchestrator CPU, Python side", orch_cpu_per_seg / seg_s),
    ):
        print(f"| {name} | {cpu * 1e3:.3f} ms | {cpu * DAY:.1f} s | – | – |")

    # back-fill: 100 new tracks, 10 of which air in this stretch
    tracks = [(i + 1, pack_prints(fingerprint_samples(song(5000 + i, 30)))) for i in range(90)]
    tracks += [(100 + i, pack_prints(fingerprint_samples(song(1000 + i, 30)))) for i in range(10)]
    index = Index.build(tracks)
    segs = [
        (s.started_at.timestamp(), decode_segment(base64.b64decode(s.data))) for s in sink.segments
    ]
    t0 = time.process_time()
    plays = replay_segments(segs, index)
    cpu = time.process_time() - t0
    speed = seconds / cpu
    full = 7 * DAY * 100 / speed
    print()
    print(f"back-fill, index of 100 new tracks: {len(plays)} airings found in {seconds:.0f} s")
    print("| replay speed | 7 days × 100 streams, one core (extrapolated) |")
    print("|---|---|")
    print(f"| {speed:.0f}× real time | {full / 3600:.1f} h |")
    print()
    clips_table(audio)


class Jobs:
    def __init__(self) -> None:
        self.jobs: list[ClipJob] = []

    def offer(self, job: ClipJob) -> bool:
        self.jobs.append(job)
        return True


def clips_table(audio: np.ndarray, plays_per_hour: int = 15) -> None:
    """Proof clips at the settings' defaults: a play a minute of the audio."""
    st = Settings.model_construct()
    sr = P.SAMPLE_RATE
    jobs = Jobs()
    cutter = ClipCutter(
        1,
        1,
        jobs,
        rate=sr,
        clip_s=st.clip_s,
        buffer_s=st.clip_buffer_s,
        request_max_s=st.clip_request_max_s,
        stats=ClipStats(),
    )
    step = 4 * sr
    origin = datetime(2026, 1, 1, tzinfo=UTC)
    t0 = time.process_time()
    for i in range(0, len(audio), step):
        cutter.heard(audio[i : i + step])
        at = i / sr
        if at % 60 == 8:  # a play noticed 8 s after it started
            cutter.play_started(f"{at:032.0f}", origin + timedelta(seconds=at), at - 8)
        cutter.step(None)
    stream_cpu = time.process_time() - t0
    seconds = len(audio) / sr
    t0 = time.process_time()
    sizes = [len(encode_opus(j.pcm, j.rate, st.clip_bitrate)) for j in jobs.jobs]
    encode_cpu = (time.process_time() - t0) / max(1, len(sizes))
    per_clip = sum(sizes) / max(1, len(sizes))
    month = per_clip * plays_per_hour * 24 * st.clip_days
    print(
        f"proof clips: {len(sizes)} clips of {st.clip_s:g} s at {st.clip_bitrate // 1000} kbit/s"
        f", buffer {st.clip_buffer_s:g} s"
    )
    print("| measure | value |")
    print("|---|---|")
    print(f"| buffer memory per stream | {cutter.ring.capacity * 2 / 1e6:.2f} MB |")
    per_s_ms = stream_cpu / seconds * 1e3
    print(f"| stream-thread CPU (buffer + cut) per stream-second | {per_s_ms:.3f} ms |")
    print(f"| encoder CPU per clip | {encode_cpu * 1e3:.1f} ms |")
    print(f"| bytes per clip | {per_clip / 1e3:.1f} kB |")
    fleet = f"100 streams × {plays_per_hour} plays/h × {st.clip_days} d"
    print(f"| {fleet} | {month * 100 / 1e9:.1f} GB |")


if __name__ == "__main__":
    main()
