import os

from hypothesis import HealthCheck, settings

# Numba compiles each kernel on first use: no per-example deadline. In CI (CI=true) the examples
# are derandomized, so that a submission's result is reproducible; local runs keep exploring.
settings.register_profile(
    "steprnn",
    deadline=None,
    derandomize=os.environ.get("CI", "").lower() in ("1", "true", "yes"),
    max_examples=int(os.environ.get("STEPRNN_HYPOTHESIS_EXAMPLES", "40")),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile("steprnn")
