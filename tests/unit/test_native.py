"""The C loops (``airtrack/fingerprint/_native.c``) compute what their numpy references do:
the same pairs of the same peaks, the same postings in the same order, and a log10 of the
spectrum that is the correctly rounded one (within the platform log10f's own error of
``np.log10``)."""

from __future__ import annotations

import os

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airtrack.fingerprint import evidence
from airtrack.fingerprint import params as P
from airtrack.fingerprint.evidence import hash_all_speeds, hashes_pair_major, probe_fines_rows
from airtrack.fingerprint.index import NO_PROBE, Index
from airtrack.fingerprint.landmarks import (
    LandmarkExtractor,
    Pairs,
    _native,
    band_power,
    band_power_reference,
    log_band_power,
    log_band_power_reference,
    pair_peaks,
    pair_peaks_reference,
)
from airtrack.fingerprint.standing import standing_at, standing_at_reference

pytestmark = pytest.mark.skipif(
    _native is None and not os.environ.get("AIRTRACK_REQUIRE_NATIVE"),
    reason="the C extension is not built (make install builds it)",
)


def test_the_extension_is_built_where_it_is_required() -> None:
    """CI sets AIRTRACK_REQUIRE_NATIVE: there a missing build fails instead of skipping."""
    assert _native is not None


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 40), st.sampled_from([1e-6, 1.0, 1e3, 1e19]))
def test_band_power_of_random_spectra_is_the_reference_power(
    seed: int, frames: int, scale: float
) -> None:
    """The power of random rfft rows (silence, music levels, near float32 overflow)."""
    rng = np.random.default_rng(seed)
    bins = P.N_FFT // 2 + 1
    parts = rng.standard_normal((frames, 2 * bins)) * scale
    parts[rng.random(parts.shape) < 0.05] = 0.0
    spectrum = parts.astype(np.float32).view(np.complex64)
    band = LandmarkExtractor()._spec.shape[1]
    got, want = np.empty((frames, band), np.float32), np.empty((frames, band), np.float32)
    band_power(spectrum.copy(), got)
    with np.errstate(over="ignore"):  # 1e19² is inf in float32, in both
        band_power_reference(spectrum.copy(), want)
    np.testing.assert_array_equal(got, want)


# the largest error of the platform's float32 log10 (np.log10, the reference without the
# extension) from the correctly rounded value, measured over every float32 >= 1e-8 by
# bench/check_log10.py: 2 ulp for glibc 2.36's log10f, 3 ulp for numpy's own SIMD loop on
# AVX-512 CPUs (numpy 2.x takes it there instead of libm's)
_PLATFORM_LOG10_ULP = 3


def _ulps(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> npt.NDArray[np.int64]:
    """Distance in float32 steps (both finite, same sign)."""
    return np.abs(a.view(np.int32).astype(np.int64) - b.view(np.int32).astype(np.int64))


def _correctly_rounded_log10(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    wide = np.longdouble if np.finfo(np.longdouble).nmant > 52 else np.float64
    return np.log10(x.astype(wide)).astype(np.float32)


# the spectrum's range, and near 1 (log10 near 0, where its relative error is hardest)
_POSITIVE = st.one_of(
    st.floats(float(np.float32(1e-8)), float(np.finfo(np.float32).max), width=32),
    st.floats(0.5, 2.0, width=32),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_POSITIVE, min_size=1, max_size=1500))
def test_log10_is_the_correctly_rounded_log10(values: list[float]) -> None:
    """Over the spectrum's range (>= 1e-8, the power's floor) the C log10 rounds the true
    value; bench/check_log10.py checks every float32 there."""
    x = np.array(values, np.float32)
    got = np.empty_like(x)
    assert _native is not None
    _native.log10(x, got)
    want = _correctly_rounded_log10(x)
    # with an 80-bit long double the float32 of log10l is the correctly rounded value; where
    # long double is double, its second rounding may be one step off
    bound = 0 if np.finfo(np.longdouble).nmant > 52 else 1
    assert int(_ulps(got, want).max()) <= bound
    assert int(_ulps(got, np.log10(x)).max()) <= _PLATFORM_LOG10_ULP + bound


def test_log10_of_zero_negative_subnormal_and_non_finite_is_libms() -> None:
    x = np.array(
        [0.0, -0.0, -1.0, 1e-45, 1e-40, 1.1754942e-38, np.inf, -np.inf, np.nan, 1.0], np.float32
    )
    got = np.empty_like(x)
    assert _native is not None
    _native.log10(x, got)
    with np.errstate(divide="ignore", invalid="ignore"):
        want = np.log10(x)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    finite = np.isfinite(want)
    np.testing.assert_array_equal(got[~finite & ~np.isnan(want)], want[~finite & ~np.isnan(want)])
    assert int(_ulps(got[finite], want[finite]).max()) <= _PLATFORM_LOG10_ULP


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 40), st.sampled_from([0.0, 1e-6, 1.0, 1e3]))
def test_log_band_power_is_the_log_of_the_band_power(seed: int, frames: int, scale: float) -> None:
    """The fused pass = the C log10 of the reference power, within the platform's log10f
    error of the numpy reference (silence: every bin at the 1e-8 floor)."""
    rng = np.random.default_rng(seed)
    bins = P.N_FFT // 2 + 1
    spectrum = (rng.standard_normal((frames, 2 * bins)) * scale).astype(np.float32)
    spectrum = spectrum.view(np.complex64)
    band = LandmarkExtractor()._spec.shape[1]
    got = np.empty((frames, band), np.float32)
    power, want = np.empty_like(got), np.empty_like(got)
    log_band_power(spectrum.copy(), got)
    band_power_reference(spectrum.copy(), power)
    logged = np.empty_like(power)
    assert _native is not None
    _native.log10(power, logged)
    np.testing.assert_array_equal(got, logged)
    log_band_power_reference(spectrum.copy(), want)
    assert int(_ulps(got, want).max()) <= _PLATFORM_LOG10_ULP


def _same_pairs(a: Pairs, b: Pairs) -> None:
    for name in ("t", "lnf1", "df", "dt", "fdf", "fdt"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype, name
        np.testing.assert_array_equal(x, y, err_msg=name)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 400), st.floats(0.0, 1.0), st.booleans())
def test_pairs_of_random_peaks_are_the_reference_pairs(
    seed: int, n: int, anchors: float, clumped: bool
) -> None:
    rng = np.random.default_rng(seed)
    # frames non-decreasing, several peaks per frame; ln Hz over the band, sometimes
    # clumped so that many targets fall within DF_MAX and the fanout fills
    t = np.cumsum(rng.integers(0, 4 if clumped else 30, n)).astype(np.int64)
    width = 0.4 if clumped else np.log(P.F_HI / P.F_LO)
    f = (np.log(P.F_LO) + rng.random(n) * width).astype(np.float32)
    n_anchor = int(anchors * n)
    _same_pairs(pair_peaks(t, f, n_anchor), pair_peaks_reference(t, f, n_anchor))


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_pairs_of_the_peaks_of_random_spectra_are_the_reference_pairs(seed: int) -> None:
    """Peaks picked from noise and tones (random spectra), paired both ways."""
    rng = np.random.default_rng(seed)
    n = P.SAMPLE_RATE * 6
    x = rng.normal(0, 0.05, n)
    for _ in range(int(rng.integers(1, 12))):
        hz, at = rng.uniform(P.F_LO, P.F_HI), int(rng.integers(0, n - 4000))
        x[at : at + 4000] += 0.3 * np.sin(2 * np.pi * hz * np.arange(4000) / P.SAMPLE_RATE)
    extractor = LandmarkExtractor(keep_peaks=True)
    extractor.feed(x.astype(np.float32))
    extractor.flush()
    peaks = extractor.peaks or []
    t = np.concatenate([p[0] for p in peaks]) if peaks else np.zeros(0, np.int64)
    f = np.concatenate([p[1] for p in peaks]) if peaks else np.zeros(0, np.float32)
    assert t.size > 0
    _same_pairs(pair_peaks(t, f, t.shape[0]), pair_peaks_reference(t, f, t.shape[0]))


@settings(max_examples=60, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.integers(0, 300),
    st.booleans(),
    st.lists(st.floats(0.5, 2.0), min_size=1, max_size=9),
)
def test_hashes_at_every_speed_are_the_reference_hashes(
    seed: int, n: int, on_steps: bool, speeds: list[float]
) -> None:
    """The C hashes of random pairs at random speeds (the matcher's among them) are the
    numpy reference's, pair-major; ``on_steps`` puts the features on quantisation steps,
    where a rounding would tip a key over."""
    rng = np.random.default_rng(seed)
    sp = np.asarray([*P.SPEEDS, *speeds], np.float64)
    log_sp = np.log(sp)[:, None]
    if on_steps:  # ln f1 exactly on a step at some speed, df on a step, dt·speed at .5
        k = rng.integers(-3, 131, n)
        lnf1 = (P.LN_F_LO + log_sp[rng.integers(0, sp.size, n), 0] + k * P.Q_F1).astype(np.float32)
        df = (rng.integers(-70, 70, n) * P.Q_DF).astype(np.float32)
        dt = rng.integers(-2, 70, n).astype(np.int64)
    else:
        lnf1 = (P.LN_F_LO + rng.uniform(-0.5, 3.5, n)).astype(np.float32)
        df = rng.uniform(-1.2, 1.2, n).astype(np.float32)
        dt = rng.integers(-5, 200, n).astype(np.int64)
    t = np.sort(rng.integers(0, 10_000, n)).astype(np.int64)
    fdf, fdt = rng.uniform(-1, 1, n).astype(np.float32), rng.integers(1, 60, n).astype(np.int64)
    pairs = Pairs(t, lnf1, df, dt, fdf, fdt)
    got = hashes_pair_major(pairs, sp, log_sp)
    assert got.dtype == np.uint32
    np.testing.assert_array_equal(got, hash_all_speeds(pairs, sp, log_sp).T.reshape(-1))


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 300), st.booleans(), st.floats(0.0, 1.0))
def test_probes_of_query_rows_are_the_reference_probes(
    seed: int, n: int, clumped: bool, asked: float
) -> None:
    """The C probes of random query rows are the numpy reference's: anchor groups of one
    to many pairs (a lone pair, a group split by a repeated frame with another ln f1),
    targets' features on and off quantisation steps, dt shifts past either end."""
    rng = np.random.default_rng(seed)
    sp = np.asarray(P.SPEEDS, np.float64)
    t = np.sort(rng.integers(0, 3 if clumped else n, n)).astype(np.int64)
    lnf1 = (P.LN_F_LO + rng.integers(0, 2 if clumped else 50, n) * 0.1).astype(np.float32)
    order = np.lexsort((lnf1, t))
    t, lnf1 = t[order], lnf1[order]
    df = np.where(
        rng.random(n) < 0.5, rng.integers(-45, 45, n) * P.Q_FDF, rng.uniform(-1.2, 1.2, n)
    ).astype(np.float32)
    dt = rng.integers(-2, 80, n).astype(np.int64)
    pairs = Pairs(t, lnf1, df, dt, df.copy(), dt.copy())
    rows = np.flatnonzero(rng.random(n * sp.size) < asked).astype(np.int64)
    got = probe_fines_rows(pairs, sp, rows)
    pair, k = np.divmod(rows, sp.size)
    want = evidence._probes(pairs, pair, sp[k])
    assert got.dtype == want.dtype == np.uint16
    np.testing.assert_array_equal(got, want)


def _index(rng: np.random.Generator, n_tracks: int, per_track: int, n_hash: int) -> Index:
    hashes = [rng.integers(0, n_hash, per_track).astype(np.uint32) for _ in range(n_tracks)]
    times = [rng.integers(0, 3000, per_track).astype(np.uint32) for _ in range(n_tracks)]
    # few fine keys: a narrowed bucket has runs of equal keys
    fines = [rng.integers(0, 20, per_track).astype(np.uint16) for _ in range(n_tracks)]
    counts = [per_track] * n_tracks
    return Index.from_arrays(list(range(n_tracks)), [60.0] * n_tracks, hashes, times, counts, fines)


def _same_postings(
    got: tuple[npt.NDArray[np.int64], npt.NDArray[np.uint32], npt.NDArray[np.uint32]],
    want: tuple[npt.NDArray[np.int64], npt.NDArray[np.uint32], npt.NDArray[np.uint32]],
) -> None:
    for g, w, name in zip(got, want, ("query row", "track", "frame"), strict=True):
        assert g.dtype == w.dtype, name
        np.testing.assert_array_equal(g, w, err_msg=name)


@settings(max_examples=40, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.sampled_from([None, 0, 1, 3, 32]),
    st.sampled_from(["none", "flat", "rows", "provider"]),
    st.integers(1, 6),
)
def test_lookup_gives_the_reference_postings(
    seed: int, cap: int | None, kind: str, n_probes: int
) -> None:
    rng = np.random.default_rng(seed)
    index = _index(rng, int(rng.integers(1, 12)), int(rng.integers(1, 300)), 40)
    hashes = rng.integers(0, 45, int(rng.integers(0, 200))).astype(np.uint32)
    n = hashes.shape[0]
    probes = rng.integers(0, 22, (n, n_probes)).astype(np.uint16)
    probes[rng.random((n, n_probes)) < 0.2] = NO_PROBE
    fines: object = {
        "none": None,
        "flat": probes[:, 0].copy(),
        "rows": probes,
        "provider": lambda rows: probes[rows],
    }[kind]
    got = index.lookup(hashes, max_postings=cap, fines=fines)  # type: ignore[arg-type]
    want = index.lookup_reference(hashes, max_postings=cap, fines=fines)  # type: ignore[arg-type]
    _same_postings(got, want)


def test_lookup_grows_its_output_for_a_large_answer() -> None:
    rng = np.random.default_rng(3)
    index = _index(rng, 8, 2000, 4)  # 4 hashes, 4000 postings each
    hashes = np.tile(np.arange(4, dtype=np.uint32), 50)
    got = index.lookup(hashes)
    assert got[0].shape[0] == 50 * 8 * 2000
    _same_postings(got, index.lookup_reference(hashes))


class _Counting:
    """The C module, with its ``gather`` calls counted (each call does the whole search)."""

    def __init__(self, module: object) -> None:
        self._module = module
        self.gathers = 0

    def gather(self, *args: object) -> int:
        self.gathers += 1
        return int(self._module.gather(*args))  # type: ignore[attr-defined]


def test_a_lookup_sizes_its_output_from_the_answers_before(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A lookup whose answer outgrows the output runs the C pass again; the next lookups
    size their output from it and run it once (at 100,000 tracks every lookup ran twice)."""
    from airtrack.fingerprint import index as index_module

    counting = _Counting(index_module._native)
    monkeypatch.setattr(index_module, "_native", counting)
    rng = np.random.default_rng(5)
    index = _index(rng, 8, 2000, 4)  # 4 hashes, 4000 postings each
    hashes = np.tile(np.arange(4, dtype=np.uint32), 50)
    index.lookup(hashes)
    assert counting.gathers == 2
    for _ in range(3):
        got = index.lookup(hashes[: 40 + _])
        _same_postings(got, index.lookup_reference(hashes[: 40 + _]))
    assert counting.gathers == 5


@settings(max_examples=80, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.integers(1, 300),
    st.integers(1, 80),
    st.integers(0, 12),
    st.integers(0, 17),
    st.booleans(),
)
def test_standing_at_cells_is_the_reference_standing(
    seed: int, n: int, m: int, ht: int, hf: int, ties: bool
) -> None:
    """The C loop's standing (3 × 3 maximum less box mean) at random cells of a random log
    spectrum, rows repeated and in any order, is the numpy reference's bit for bit."""
    rng = np.random.default_rng(seed)
    if ties:  # a few levels: ties in the maximum
        s = rng.integers(-8, 2, (n, m)).astype(np.float32)
    else:  # a log spectrum's range
        s = (rng.standard_normal((n, m)) * 3 - 5).astype(np.float32)
    rows, cols = rng.integers(0, n, 3 * n), rng.integers(0, m, 3 * n)
    assert _native is not None
    got = np.empty(rows.shape[0], np.float32)
    _native.standing_at(s, n, m, ht, hf, rows, cols, got)
    want = standing_at_reference(s, ht, hf, rows, cols)
    np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))
    np.testing.assert_array_equal(standing_at(s, ht, hf, rows, cols), want)
