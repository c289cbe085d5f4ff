"""Build of push-dispatch: the pipeline's hot modules compiled to C with mypyc, on request.

With PUSH_DISPATCH_COMPILE=1 the modules in COMPILED are compiled by mypyc (the compiler
of mypy, from the same type annotations mypy checks) into extension modules beside their
sources, which Python then imports in place of the `.py` files. The code is the same; what
changes is the cost of each step: in the in-process harness (push_tools/bench/inprocess.py)
the pipeline's CPU per intent went from 125.5 to 98.2 us (minimum of three alternations,
30,000 intents), and in one bench run its CPU per intent / the baseline's from 2.22 to 1.62.
Without the variable the package is pure Python and installs anywhere.

Compiling type-checks the modules with the project's mypy settings, so it needs the
project's dependencies installed (no build isolation): `make setup` and the Dockerfile do
it in that order. A compiled module runs its annotations as checks: a value of the wrong
type raises TypeError where it enters, which the test suite runs against.
"""

from __future__ import annotations

import os

from setuptools import setup

# The modules each intent passes through (decode, validate, batch, bodies, conclude,
# encode, produce), ranked by the bench's py-spy profile. The rest stays interpreted.
COMPILED = [
    "consumer/avro/decoding.py",
    "consumer/avro/encoding.py",
    "consumer/avro/framing.py",
    "consumer/avro/intent_records.py",
    "consumer/avro/outcome_records.py",
    "consumer/avro/prebuilt.py",
    "consumer/avro/repeating.py",
    "consumer/avro/varint.py",
    "consumer/batching/batcher.py",
    "consumer/kafka/sink.py",
    "consumer/offsets.py",
    "consumer/outcomes.py",
    "consumer/pipeline/conclusion.py",
    "consumer/pipeline/dispatcher.py",
    "consumer/pipeline/intake.py",
    "consumer/pipeline/ledger.py",
    "consumer/pipeline/outbox.py",
    "consumer/pipeline/parking.py",
    "consumer/pipeline/pending.py",
    "consumer/providers/azure/push.py",
    "consumer/providers/azure/wire.py",
    "consumer/providers/responsys/push.py",
    "consumer/providers/responsys/wire.py",
    "consumer/validation.py",
]


def _extensions() -> list[object]:
    if os.environ.get("PUSH_DISPATCH_COMPILE") != "1":
        return []
    from mypyc.build import mypycify

    return list(mypycify(COMPILED, opt_level="3"))


setup(ext_modules=_extensions())
