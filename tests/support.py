"""Shared test settings.

``FUZZ_EXAMPLES`` (environment, default 10,000; ``make test`` sets it) is the number of
Hypothesis examples each decoder gets in the decoder-contract tests: any bytes give a value
or a ``DecodeError``, never another exception.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "10000"))

# For the decoder contract: many examples, no deadline (CI machines vary in speed).
fuzz_settings = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# For round-trip properties: fewer examples, still no deadline.
property_settings = settings(max_examples=500, deadline=None)
