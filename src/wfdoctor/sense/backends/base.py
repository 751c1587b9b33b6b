"""What a backend probe reports: the server, its models, and how it answered."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ModelInfo:
    """A model a server knows; sizes are the server's own numbers when it gives them."""

    name: str
    loaded: bool
    size_bytes: int | None = None
    vram_bytes: int | None = None
    expires_at: str | None = None


@dataclass
class BackendStatus:
    """One probed server. `answered` False means nothing usable came back."""

    url: str
    kind: str
    answered: bool
    latency_s: float | None = None
    version: str = ""
    models: list[ModelInfo] = field(default_factory=list)
    error: str = ""
    embedded: bool = False
    detail: str = ""
