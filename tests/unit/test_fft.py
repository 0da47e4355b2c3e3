"""The STFT's FFT is scipy's, bit for bit, without importing the ``scipy.fft`` package."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import scipy.fft
from hypothesis import given, settings
from hypothesis import strategies as st

from airtrack.fingerprint.fft import rfft_rows


@settings(max_examples=25, deadline=None)
@given(
    rows=st.integers(min_value=1, max_value=40),
    n=st.sampled_from([16, 512, 1000, 1024]),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_rfft_rows_is_scipy_rfft_bit_for_bit(rows: int, n: int, seed: int) -> None:
    x = np.random.default_rng(seed).standard_normal((rows, n)).astype(np.float32)
    ours, theirs = rfft_rows(x), scipy.fft.rfft(x, axis=1)
    assert ours.dtype == theirs.dtype == np.complex64
    assert np.array_equal(ours.view(np.uint32), theirs.view(np.uint32))  # same bits


def test_the_engine_loads_without_scipy_fft() -> None:
    """``scipy.fft`` pulls in scipy.special and numpy.testing: every scan paid for them."""
    code = (
        "import sys, numpy as np, airtrack.fingerprint as f\n"
        "f.fingerprint_samples(np.zeros(8000 * 3, np.float32))\n"
        "print(sorted(m for m in ('scipy.fft', 'scipy.special') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"
