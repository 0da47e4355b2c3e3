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
    /,
) -> int: ...
def band_power(
    spectrum: Any, width: int, bin_lo: int, bin_hi: int, eps: float, take_log: bool, out: Any, /
) -> None: ...
def log10(x: Any, out: Any, /) -> None: ...
