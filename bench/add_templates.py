"""Add every track's template to an index file written before the index stored them.

    .venv/bin/python bench/add_templates.py INDEX [--out PATH] [--group POSTINGS]

The postings are addressed by hash; a track's template needs its own.  Out of core, in
bounded memory: one pass counts each track's postings (``keys >> FINE_BITS``) and cuts the
tracks into groups of at most ``--group`` postings; a second pass (``CHUNK`` postings at a
time) packs each posting's (track, hash, frame) into 8 bytes and appends it to its group's
scratch file beside the output; each group is then read back and its templates made at once
(``templates_of``: ~100 B per posting meanwhile).  The new file is the old one byte for byte
(its arrays at the same offsets from a header that also lists the templates) with the
three template arrays after; it replaces ``INDEX`` unless ``--out``.  Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt

from airtrack.fingerprint import params as P
from airtrack.fingerprint.index import _ALIGN, _MAGIC, Index
from bench._scale_index import GROUP, Templates, group_template, join_templates, track_groups

CHUNK = 1 << 25
_T_BITS, _H_BITS = 24, P.HASH_BITS


def index_templates(index: Index, scratch: Path, group: int = GROUP) -> Templates:
    """Every track's template of ``index``, through scratch files under ``scratch``."""
    n, n_tracks = index.n_hashes, index.n_tracks
    shift = np.uint32(P.FINE_BITS)
    counts = np.zeros(n_tracks, np.int64)
    for i in range(0, n, CHUNK):
        counts += np.bincount(index.keys[i : i + CHUNK] >> shift, minlength=n_tracks)
    groups = track_groups(counts, group)
    group_of = np.repeat(np.arange(len(groups)), [b - a for a, b in groups])
    files = [(scratch / f"group-{g}.u64").open("wb") for g in range(len(groups))]
    try:
        for i in range(0, n, CHUNK):
            rows = np.arange(i, min(n, i + CHUNK), dtype=np.int64)
            h = (np.searchsorted(index.starts, rows, "right") - 1).astype(np.uint64)
            k = index.keys[i : i + CHUNK] >> shift
            t = index.times[i : i + CHUNK].astype(np.uint64)
            assert t.size == 0 or int(t.max()) < 1 << _T_BITS
            packed = (
                (k.astype(np.uint64) << np.uint64(_T_BITS + _H_BITS))
                | (h << np.uint64(_T_BITS))
                | t
            )
            g = group_of[k]
            order = np.argsort(g, kind="stable")
            cnt = np.bincount(g, minlength=len(groups))
            ends = np.cumsum(cnt)
            packed = packed[order]
            for j in np.flatnonzero(cnt):
                files[j].write(packed[ends[j] - cnt[j] : ends[j]].tobytes())
    finally:
        for fh in files:
            fh.close()
    parts = []
    for j, (a, b) in enumerate(groups):
        path = scratch / f"group-{j}.u64"
        data = np.fromfile(path, np.uint64)
        path.unlink()
        k = (data >> np.uint64(_T_BITS + _H_BITS)).astype(np.int64)
        h = ((data >> np.uint64(_T_BITS)) & np.uint64((1 << _H_BITS) - 1)).astype(np.int64)
        t = (data & np.uint64((1 << _T_BITS) - 1)).astype(np.int64)
        del data
        parts.append(group_template(a, b - a, k, h, t))
    return join_templates(parts, n_tracks)


def write_with_templates(src: Path, out: Path, templates: Templates) -> None:
    """``src`` with the template arrays added (see the module's docstring)."""
    names = ("template_offsets", "template_t", "template_q")
    append_arrays(src, out, dict(zip(names, templates, strict=True)))


def append_arrays(
    src: Path, out: Path, arrays: dict[str, npt.NDArray[np.generic]], **header: object
) -> None:
    """``src`` with ``arrays`` (and ``header`` fields) added after its own arrays, which are
    copied as they are, at the same offsets from the new header; replaces ``out``."""
    with src.open("rb") as fh:
        assert fh.read(len(_MAGIC)) == _MAGIC
        size = int.from_bytes(fh.read(8), "little")
        old = json.loads(fh.read(size))
    old_base = -(-(len(_MAGIC) + 8 + size) // _ALIGN) * _ALIGN
    layout = old["arrays"]
    if any(k in layout for k in arrays):
        raise SystemExit(f"{src} already holds {', '.join(k for k in arrays if k in layout)}")
    end = max(
        (off + -(-int(np.prod(shape)) * np.dtype(dt).itemsize // _ALIGN) * _ALIGN
         for dt, shape, off in layout.values()), default=0,
    )  # fmt: skip
    offset = end
    for name, arr in arrays.items():
        layout[name] = [arr.dtype.str, list(arr.shape), offset]
        offset += -(-arr.nbytes // _ALIGN) * _ALIGN
    old.update(header)
    head = json.dumps(old).encode()
    base = -(-(len(_MAGIC) + 8 + len(head)) // _ALIGN) * _ALIGN
    tmp = out.with_name(out.name + ".tmp")
    with src.open("rb") as fin, tmp.open("wb") as fout:
        fout.write(_MAGIC + len(head).to_bytes(8, "little") + head)
        fout.seek(base)
        fin.seek(old_base)
        shutil.copyfileobj(fin, fout, 1 << 24)
        for name, arr in arrays.items():
            fout.seek(base + int(layout[name][2]))
            fout.write(np.ascontiguousarray(arr).tobytes())
        fout.truncate(base + offset)
    os.replace(tmp, out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("index", type=Path)
    ap.add_argument("--out", type=Path, help="write here (default: replace INDEX)")
    ap.add_argument("--group", type=int, default=GROUP, help="postings per group of tracks")
    args = ap.parse_args(argv)
    out = args.out or args.index
    t0 = time.monotonic()
    index = Index.load(args.index)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix="templates-") as tmp:
        templates = index_templates(index, Path(tmp), args.group)
    t1 = time.monotonic()
    del index
    write_with_templates(args.index, out, templates)
    peaks = int(templates[1].shape[0])
    posting = Index.load(out).n_hashes
    nbytes = sum(int(a.nbytes) for a in templates)
    print(json.dumps({
        "index": str(out), "postings": posting, "peaks": peaks, "template_bytes": nbytes,
        "bytes_per_posting": round(nbytes / max(1, posting), 3),
        "templates_s": round(t1 - t0, 1), "write_s": round(time.monotonic() - t1, 1),
    }))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
