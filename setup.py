"""The C extension of the recognition engine; everything else is in pyproject.toml.

``airtrack.fingerprint._native`` does the engine's hot loops (band power and its log10,
peak pairing, hashing at every speed, the index lookup, the boundary template's cells) in
one pass each; without a C compiler the build goes on without it (``optional``) and the
engine uses its numpy reference code, which gives the same plays, more slowly (its log10 is
the platform's: docs/design.md, "The log spectrum and the engine's versions").
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "airtrack.fingerprint._native",
            ["airtrack/fingerprint/_native.c"],
            # -O3: the loops vectorise; no fused multiply-add: every rounding as written
            extra_compile_args=["-O3", "-ffp-contract=off"],
            optional=True,
        )
    ]
)
