"""Decode speed against its physical limit (pure)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Roofline:
    """tokens/s <= bandwidth / bytes read per token (~ the model's weight bytes)."""

    limit_tps: float
    measured_tps: float
    model_bytes: int
    bandwidth_bytes_per_second: float
    bandwidth_source: str
    fraction: float             # measured / limit

    def explanation(self) -> str:
        return (f"decode {self.measured_tps:.1f} tokens/s is {self.fraction:.0%} of the bandwidth limit "
                f"{self.limit_tps:.0f} tokens/s ({self.bandwidth_bytes_per_second / 1e9:.1f} GB/s / "
                f"{self.model_bytes / 1e6:.0f} MB of weights; {self.bandwidth_source})")


def roofline(measured_tps: float, model_bytes: int, bandwidth_bytes_per_second: float, source: str) -> Roofline:
    limit = bandwidth_bytes_per_second / model_bytes
    return Roofline(limit_tps=limit, measured_tps=measured_tps, model_bytes=model_bytes,
                    bandwidth_bytes_per_second=bandwidth_bytes_per_second, bandwidth_source=source,
                    fraction=measured_tps / limit)
