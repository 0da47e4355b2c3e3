"""The C extension of the recognition engine; everything else is in pyproject.toml.

``airtrack.fingerprint._native`` does the peak pairing and the index lookup in one pass
each; without a C compiler the build goes on without it (``optional``) and the engine uses
its numpy reference code, which gives the same prints and plays, more slowly.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "airtrack.fingerprint._native",
            ["airtrack/fingerprint/_native.c"],
            # no fused multiply-add: every rounding as in the numpy reference
            extra_compile_args=["-O3", "-ffp-contract=off"],
            optional=True,
        )
    ]
)
