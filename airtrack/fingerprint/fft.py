"""The STFT's real FFT: scipy's pocketfft, loaded without the ``scipy.fft`` package.

``import scipy.fft`` also loads ``scipy.special`` and ``numpy.testing``: about 0.3 s of
every command's start on an idle core, more than the rest of the engine's imports.  The
transform itself is one function of the compiled ``pypocketfft`` module, which imports
nothing.  Loading that module from its file gives the very function ``scipy.fft.rfft``
calls, with the arguments it passes (no scaling, one thread), so the spectra and the
prints are the same bit for bit (``tests/unit/test_fft.py``).  Where this scipy keeps it
elsewhere, ``scipy.fft`` is imported as before.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["rfft_rows"]

_NAME = "scipy.fft._pocketfft.pypocketfft"


def _load_pocketfft() -> Any | None:
    if _NAME in sys.modules:
        return sys.modules[_NAME]
    spec = importlib.util.find_spec("scipy")  # the package's place; runs nothing of it
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "fft" / "_pocketfft"
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = folder / f"pypocketfft{suffix}"
        if path.is_file():
            loader = importlib.machinery.ExtensionFileLoader(_NAME, str(path))
            ext = importlib.util.spec_from_file_location(_NAME, path, loader=loader)
            if ext is None:
                return None
            module = importlib.util.module_from_spec(ext)
            loader.exec_module(module)
            sys.modules[_NAME] = module  # scipy.fft, if imported later, reuses it
            return module
    return None


def _rfft_rows() -> Callable[[npt.NDArray[np.float32]], npt.NDArray[np.complex64]]:
    try:
        pocketfft = _load_pocketfft()
    except ImportError:
        pocketfft = None
    if pocketfft is None or not hasattr(pocketfft, "r2c"):
        import scipy.fft

        return lambda x: scipy.fft.rfft(x, axis=1)
    r2c = pocketfft.r2c
    # scipy.fft.rfft(x, axis=1) == r2c(x, axes, forward, norm "backward" (0), out, workers)
    return lambda x: r2c(x, (1,), True, 0, None, 1)


#: ``scipy.fft.rfft(x, axis=1)`` of a 2-D float32 array, bit for bit.
rfft_rows = _rfft_rows()
