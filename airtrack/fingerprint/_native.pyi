"""Stub of the C extension ``_native.c`` (built by ``pip install -e .`` / ``make install``)."""

from typing import Any

def pair_peaks(
    t: Any,
    f: Any,
    n_anchor: int,
    scan: int,
    fanout: int,
    dt_max: int,
    df_max: float,
    out_t: Any,
    out_lnf1: Any,
    out_df: Any,
    out_dt: Any,
    out_fdf: Any,
    out_fdt: Any,
    /,
) -> int: ...
def gather(
    keys: Any,
    times: Any,
    lo: Any,
    hi: Any,
    big: Any,
    probes: Any,
    p: int,
    no_probe: int,
    max_postings: int,
    fine_bits: int,
    out_q: Any,
    out_track: Any,
    out_time: Any,
    coarse: Any,
    coarse_step: int,
    fine: Any,
    fine_step: int,
    /,
) -> int: ...
def band_power(
    spectrum: Any, width: int, bin_lo: int, bin_hi: int, eps: float, take_log: bool, out: Any, /
) -> None: ...
def log10(x: Any, out: Any, /) -> None: ...
def hash_speeds(
    lnf1: Any,
    df: Any,
    dt: Any,
    speeds: Any,
    f1_offset: Any,
    inv_q_f1: float,
    inv_q_df: float,
    f1_bits: int,
    df_bits: int,
    dt_bits: int,
    out: Any,
    /,
) -> None: ...
def probe_rows(
    t: Any,
    lnf1: Any,
    df: Any,
    dt: Any,
    rows: Any,
    speeds: Any,
    fanout: int,
    inv_q_fdf: float,
    fdf_bits: int,
    fdt_bits: int,
    no_probe: int,
    out: Any,
    /,
) -> None: ...
def standing_at(
    s: Any,
    n: int,
    m: int,
    ht: int,
    hf: int,
    rows: Any,
    cols: Any,
    out: Any,
    /,
) -> None: ...
