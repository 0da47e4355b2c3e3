"""Tables of the catalog scale benchmark: distractor statistics beside real music, then one
row per catalog size (written after every size, so a long run leaves its partial results)."""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path
from typing import Any

import numpy as np

from airtrack.fingerprint import params as P
from airtrack.fingerprint.landmarks import Prints


def _fields(prints: list[Prints]) -> dict[str, np.ndarray]:
    h = np.concatenate([p.hashes for p in prints]).astype(np.int64)
    return {
        "f1": h >> (P.DF_BITS + P.DT_BITS),
        "df": (h >> P.DT_BITS) & ((1 << P.DF_BITS) - 1),
        "dt": h & ((1 << P.DT_BITS) - 1),
    }


def _hist(x: np.ndarray, bits: int, bins: int = 8) -> list[float]:
    c = np.bincount(x >> (bits - 3), minlength=bins)[:bins]
    return [100 * v / max(1, c.sum()) for v in c]


def _postings(prints: list[Prints]) -> dict[str, float]:
    counts = np.bincount(np.concatenate([p.hashes for p in prints]), minlength=1 << P.HASH_BITS)
    used = counts[counts > 0]
    top = np.sort(used)[::-1]
    return {
        "hash_space_used_pct": 100 * used.size / counts.size,
        "mean_per_used_hash": float(used.mean()),
        "p99_per_used_hash": float(np.percentile(used, 99)),
        "max_per_hash": float(used.max()),
        "top1pct_share": 100 * float(top[: max(1, counts.size // 100)].sum() / top.sum()),
    }


def survival_lines(stats: dict[str, Any]) -> list[str]:
    surv: dict[str, dict[str, float]] = stats.get("survival", {})
    if not surv:
        return []
    lines = [
        "## Fine-key survival",
        "",
        "Of the true-match postings the 20-bit hash finds on each station (the aired catalog"
        " item, at the speed nearest the aired one, within 8 frames of the airing's"
        " alignment), the fraction the fine key keeps: with the query pair's own sibling only,"
        " and with the engine's probes (every other target of the anchor, dt -1/0/+1)."
        " Independent of the catalog size (distractors add no true matches).",
        "",
        "| station | true-match postings (20-bit hash) | kept, own sibling only | kept, engine"
        " probes |",
        "|---|---|---|---|",
    ]
    for name, v in surv.items():
        lines.append(
            f"| {name} | {v['true_hash']:,} | {100 * v['survival_own']:.1f} % |"
            f" {100 * v['survival']:.1f} % |"
        )
    return [*lines, ""]


def stats_lines(stats: dict[str, Any]) -> list[str]:
    real: list[Prints] = stats["real"]
    dis: list[Prints] = stats.get("distractors", [])
    if not dis:
        return []
    # posting statistics compared at the same number of postings (distractors are longer)
    need, same = sum(len(p) for p in real), list[Prints]()
    for p in dis:
        if sum(len(q) for q in same) >= need:
            break
        same.append(p)
    lines = [
        "## Distractors beside real music",
        "",
        f"Sources: {len(stats['sources'])} real tracks ({', '.join(stats['sources'])}).",
        f"Real = the {len(real)} catalog items of the recognition benchmark; distractors ="
        f" the first {len(dis)} generated (posting statistics on the first {len(same)}, as"
        " many postings as the real items).",
        "",
        "| statistic | real music | distractors |",
        "|---|---|---|",
    ]
    for label, group in (("real", real), ("dis", dis)):
        rate = [len(p) / p.duration_s for p in group]
        stats[f"rate_{label}"] = (statistics.median(rate), min(rate), max(rate))
    r, d = stats["rate_real"], stats["rate_dis"]
    lines.append(f"| hashes per second of audio, median (min-max) | {r[0]:.0f} ({r[1]:.0f}-"
                 f"{r[2]:.0f}) | {d[0]:.0f} ({d[1]:.0f}-{d[2]:.0f}) |")  # fmt: skip
    dur_r = statistics.median(p.duration_s for p in real)
    dur_d = statistics.median(p.duration_s for p in dis)
    lines.append(f"| track duration median (s) | {dur_r:.0f} | {dur_d:.0f} |")
    pr, pd = _postings(real), _postings(same)
    for key in pr:
        lines.append(f"| {key.replace('_', ' ')} | {pr[key]:.2f} | {pd[key]:.2f} |")
    fr, fd = _fields(real), _fields(dis)
    bits = {"f1": P.F1_BITS, "df": P.DF_BITS, "dt": P.DT_BITS}
    lines += ["", "Hash field histograms (% of hashes in each eighth of the field's range):", "",
              "| field | " + " | ".join(f"bin {i}" for i in range(8)) + " |",
              "|---|" + "---|" * 8]  # fmt: skip
    for key, b in bits.items():
        for label, f in (("real", fr), ("distractors", fd)):
            cells = " | ".join(f"{v:.1f}" for v in _hist(f[key], b))
            lines.append(f"| {key} {label} | {cells} |")
    dc = stats["distinct"]
    lines += [
        "",
        f"Distinct songs: every source track ({dc['source_audio_s'] / 60:.0f} min of real"
        f" audio) scanned by the matcher against an index of {dc['distractors']} distractors"
        f" made from those sources: {len(dc['plays'])} plays"
        + (f" ({'; '.join(dc['plays'][:10])})" if dc["plays"] else "")
        + f"; highest confidence of any candidate at threshold 0.05 (first 8 sources):"
        f" {dc['max_conf_at_0.05']:.2f}.",
    ]
    return lines


def _mb(kb: float) -> str:
    return f"{kb / 1024:.0f}"


def size_lines(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "## Cost per catalog size",
        "",
        "Engine = the lookup the matcher makes (buckets of ≤ 32 postings read whole, bigger"
        " ones only at the fine keys the query probes, cap 32 per sub-range); v1 = engine v1's"
        " (20-bit hash, buckets > 32 skipped); all = every posting of the 20-bit hashes.",
        "",
        "| tracks | postings | distractor gen (s, cumulative) | index build (s) | snapshot on"
        " disk (GB) | B per posting | worker start: load + first lookup (s) | density"
        " histogram (s, how) | lookup µs per 1 s of query: engine (v1 / all) | postings read"
        " per 1 s of query: engine (v1 / all) | query hashes in buckets > 32 | postings per"
        " fine sub-range, median / p90 | query hashes skipped: engine (v1) | matcher CPU ms"
        " per stream-second | streams per core (matcher only) |",
        "|" + "---|" * 15,
    ]
    for r in rows:
        if "skipped" in r:
            lines.append(f"| {r['tracks']} | not measured: {r['skipped']} |" + " |" * 13)
            continue
        o, lk = r["one"], r["one"]["lookup"]
        cpu = o["live_cpu_per_stream_s"]
        lines.append(
            f"| {r['tracks']:,} | {r['postings']:,} | {r['gen_s']:.0f} | {r['build_s']:.0f} |"
            f" {r['bytes'] / 1e9:.2f} | {r['bytes'] / max(1, r['postings']):.2f} |"
            f" {o['load_s']:.2f} | {o['density_s']:.1f} ({r['one_density']}) |"
            f" {lk['us_capped']:.0f} ({lk.get('us_v1cap', 0):.0f} / {lk['us_all']:.0f}) |"
            f" {lk['postings_capped']:,.0f} ({lk.get('postings_v1cap', 0):,.0f} /"
            f" {lk['postings_all']:,.0f}) | {100 * lk.get('big_frac', 0):.1f} % |"
            f" {lk.get('fine_postings_median', 0):.0f} / {lk.get('fine_postings_p90', 0):.0f} |"
            f" {100 * lk['skipped_frac']:.1f} % ({100 * lk.get('skipped_frac_v1', 0):.1f} %) |"
            f" {1e3 * cpu:.2f} | {1 / cpu:.0f} |"
        )
    lines += [
        "",
        "Postings per *query* hash (real station audio at 7 speeds), and what engine v1 with"
        " a higher posting cap would keep and read per second of query:",
        "",
        "| tracks | median postings per query hash | skipped at cap 32 / 128 / 512 / 2048 |"
        " postings read per s at cap 128 / 512 / 2048 / none |",
        "|---|---|---|---|",
    ]
    for r in rows:
        lk = r.get("one", {}).get("lookup", {})
        if "skipped_frac_128" not in lk:
            continue
        skip = " / ".join(
            f"{100 * lk[k]:.0f} %"
            for k in (
                "skipped_frac_v1",
                "skipped_frac_128",
                "skipped_frac_512",
                "skipped_frac_2048",
            )
        )
        keys = ("postings_128", "postings_512", "postings_2048", "postings_all")
        read = " / ".join(f"{lk[k]:,.0f}" for k in keys)
        lines.append(
            f"| {r['tracks']:,} | {lk['postings_per_query_hash_median']:,.0f} | {skip} | {read} |"
        )
    lines += [
        "",
        "Memory (MB, /proc/PID/smaps_rollup after feeding station A live). *Private* is the"
        " worker's anonymous memory (heap, matcher state, density histogram); *index pages*"
        " are the file-backed pages of the memory-mapped snapshot, counted private by the"
        " kernel while one process maps them and shared once several do; peak = VmHWM.",
        "",
        "| tracks | one worker: private (anon) | index pages | peak RSS (density: how) |"
        " four workers: private each | shared each |",
        "|" + "---|" * 6,
    ]
    for r in rows:
        if "skipped" in r:
            continue
        f = r["one"]["final"]
        cells = f"| {r['tracks']:,} | {_mb(f['Anonymous'])} | {_mb(f['Rss'] - f['Anonymous'])} |"
        cells += f" {_mb(f['VmHWM'])} ({r['one_density']}) |"
        if "four" in r:
            fs = r["four"]
            privs = "/".join(_mb(x["Anonymous"]) for x in fs)
            shared = "/".join(_mb(x["Shared_Clean"] + x["Shared_Dirty"]) for x in fs)
            cells += f" {privs} | {shared} |"
        else:
            cells += " not measured | |"
        lines.append(cells)
    lines += ["", "## Recognition with every distractor present", "",
              "| tracks | station | found / catalog plays | false plays | rows/play | start err"
              " median / max (s) | end err median / max (s) | missed |",
              "|" + "---|" * 8]  # fmt: skip
    for r in rows:
        if "skipped" in r:
            continue
        tot = {"catalog_plays": 0, "found": 0, "rows": 0, "false": [], "start_err": [],
               "end_err": [], "missed": []}  # fmt: skip
        for name, (song, short) in r["one"]["scores"].items():
            for label, s in ((name, song), (f"{name} short items", short)):
                if not s["catalog_plays"]:
                    continue
                for k in tot:
                    tot[k] += s[k]
                lines.append(_score_line(r["tracks"], label, s))
        lines.append(_score_line(r["tracks"], "**TOTAL (songs + short items)**", tot))
    return lines


def _pair(xs: list[float]) -> str:
    return f"{statistics.median(xs):.2f} / {max(xs):.2f}" if xs else "- / -"


def _score_line(n: int, label: str, s: dict[str, Any]) -> str:
    pct = 100 * s["found"] / max(1, s["catalog_plays"])
    missed = ", ".join(s["missed"][:4]) + (" …" if len(s["missed"]) > 4 else "")
    return (
        f"| {n:,} | {label} | {s['found']}/{s['catalog_plays']} ({pct:.1f} %) |"
        f" {len(s['false'])} | {s['rows'] / max(1, s['found']):.2f} | {_pair(s['start_err'])} |"
        f" {_pair(s['end_err'])} | {missed or '-'} |"
    )


_NOTES = "<!-- notes by hand -->"


def report(path: Path, rows: list[dict[str, Any]], stats: dict[str, Any],
           args: argparse.Namespace) -> None:  # fmt: skip
    cmd = "python bench/bench_catalog_scale.py --sizes " + " ".join(map(str, args.sizes))
    text = [f"# Catalog scale benchmark\n\nCommand: `{cmd}` (generated tables; notes by hand"
            " follow in README/docs/scaling.md)\n"]  # fmt: skip
    text += [*size_lines(rows), "", *survival_lines(stats), *stats_lines(stats)]
    # notes written by hand below the marker survive a regeneration of the tables
    old = path.read_text() if path.exists() else ""
    if _NOTES in old:
        text += ["", _NOTES + old.split(_NOTES, 1)[1].rstrip("\n")]
    path.write_text("\n".join(text) + "\n")
    print("\n".join(text))
