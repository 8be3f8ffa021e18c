import os

from hypothesis import HealthCheck, settings

# Numba compiles each kernel on first use: no per-example deadline.
settings.register_profile(
    "steprnn",
    deadline=None,
    max_examples=int(os.environ.get("STEPRNN_HYPOTHESIS_EXAMPLES", "40")),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile("steprnn")
