"""A per-invocation time budget, so retries and timeouts never outlive the Lambda (or API Gateway's 29 s)."""

from __future__ import annotations

import time
from dataclasses import dataclass

# Left for mapping the error and writing logs/metrics after the last Logto call gives up.
SAFETY_MARGIN_SECONDS = 0.5


@dataclass(frozen=True)
class Deadline:
    """When this invocation must have answered (Lambda's remaining time less a margin)."""

    at: float  # time.monotonic() value

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + seconds)

    @classmethod
    def from_context(cls, context: object, default_seconds: float = 10.0) -> Deadline:
        remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
        seconds = remaining_ms() / 1000 if callable(remaining_ms) else default_seconds
        return cls.after(max(0.0, seconds - SAFETY_MARGIN_SECONDS))

    def remaining(self) -> float:
        return max(0.0, self.at - time.monotonic())

    def keeping(self, seconds: float) -> Deadline:
        """An earlier deadline for a forward step that leaves `seconds` for what must follow it (finding out what a
        lost answer did, or undoing a half-done change), but at most a third of what is left: a short budget still
        lets the step itself run."""
        return Deadline(self.at - min(seconds, self.remaining() / 3))
