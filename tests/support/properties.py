"""What the property tests of the documented patterns share."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

# Derandomized so CI is deterministic; no deadline on a shared 2-core machine.
PATTERN_EXAMPLES = settings(
    max_examples=200,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def no_dns(host: str, port: int) -> list[str]:
    """Stand in for a resolver that cannot find the name yet (delivery checks it again)."""
    raise OSError("no DNS in tests")
