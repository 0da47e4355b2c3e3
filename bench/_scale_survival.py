"""The fine key's survival on the five stations (catalog scale benchmark, engine v2)."""

from __future__ import annotations

import numpy as np

from airtrack.fingerprint import Index, decode
from airtrack.fingerprint import params as P
from airtrack.fingerprint.evidence import TOL, fines_all_speeds, hash_all_speeds, probe_fines
from airtrack.fingerprint.landmarks import LandmarkExtractor, Prints, _concat
from bench import stations as S


def fine_survival(real: list[tuple[int, str, Prints]]) -> dict[str, dict[str, float]]:
    """Per station: of the true-match postings (a catalog airing's own track, at the speed
    nearest the aired one, within ``TOL`` frames of the airing's alignment) that the 20-bit
    hash finds, the fraction whose fine key the query also finds: with the query pair's own
    sibling only, and with the engine's probes (``evidence.probe_fines``).  It depends on
    the query audio and the aired tracks only (distractors add no true matches), so it is
    measured once, on an index of the real items.
    """
    from airtrack.fingerprint import pack_prints

    index = Index.build((tid, pack_prints(p)) for tid, _, p in real)
    dense = {name: i for i, (_, name, _) in enumerate(real)}
    speeds = np.asarray(P.SPEEDS)
    out: dict[str, dict[str, float]] = {}
    for spec in S.STATIONS:
        mp3, truth = S.build_station(spec)
        ex = LandmarkExtractor()
        parts = [ex.feed(b) for b in decode(mp3)]
        parts.append(ex.flush())
        pairs = _concat(parts)
        hashes = hash_all_speeds(pairs, speeds, np.log(speeds)[:, None]).T.reshape(-1)
        own = fines_all_speeds(pairs, speeds).T.reshape(-1)
        probes = probe_fines(pairs, speeds).transpose(1, 0, 2).reshape(hashes.shape[0], -1)
        counts = {}
        for label, fk in (("hash", None), ("own", own), ("probes", probes)):
            n = 0
            q, tr, tref = index.lookup(hashes, None, fk)
            i, k = np.divmod(q, len(speeds))
            align = pairs.t[i] - tref.astype(np.float64) / speeds[k]
            tr = tr.astype(np.int64)
            for a in truth:
                if not a.catalog or a.name not in dense:
                    continue
                kk = int(np.argmin(np.abs(speeds - a.speed)))
                want = (a.start - a.offset / a.speed) * P.FRAMES_PER_S
                t0, t1 = a.start * P.FRAMES_PER_S, a.end * P.FRAMES_PER_S
                sel = (tr == dense[a.name]) & (k == kk) & (np.abs(align - want) <= TOL)
                sel &= (pairs.t[i] >= t0) & (pairs.t[i] < t1)
                n += int(np.count_nonzero(sel))
            counts[label] = n
        out[spec.name] = {
            "true_hash": counts["hash"],
            "survival_own": counts["own"] / max(1, counts["hash"]),
            "survival": counts["probes"] / max(1, counts["hash"]),
        }
        print(spec.name, out[spec.name], flush=True)
    return out
