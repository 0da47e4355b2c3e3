"""The matcher's median (``evidence.median``) is ``np.median`` bit for bit: alignments, and so
plays, do not move; it only spares a scan the import of ``numpy.ma``."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from airtrack.fingerprint.evidence import median


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.floats(-1e6, 1e6),
            st.integers(-300, 300).map(float),  # ties: frames, as alignments are
        ),
        min_size=1,
        max_size=60,
    )
)
def test_median_is_numpys_median(values: list[float]) -> None:
    x = np.array(values, np.float64)
    got, want = median(x), float(np.median(x))
    assert got == want or (math.isnan(got) and math.isnan(want))
    assert np.float64(got).tobytes() == np.float64(want).tobytes()


def test_median_of_nan_is_nan() -> None:
    assert math.isnan(median(np.array([1.0, math.nan, 2.0])))


def test_median_does_not_load_numpy_ma() -> None:
    code = (
        "import sys, numpy as np\n"
        "from airtrack.fingerprint.evidence import median\n"
        "median(np.arange(6.0)); median(np.arange(5.0))\n"
        "print('numpy.ma' in sys.modules)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "False"
