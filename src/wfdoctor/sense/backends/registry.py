"""The protocols wfdoctor speaks, in one registry: adding a backend is adding one module.

A protocol declares itself completely in its own module: its name, the URL
schemes it speaks, the loopback URLs where discovery looks for it, how to probe
a URL, how to open a backend on it (which implementation serves it, how to
stream, how to count tokens) and what its server reports by itself. Nothing
else in wfdoctor dispatches on protocol names.

The built-in protocols come first, in this order: Ollama before the OpenAI API
because Ollama serves `/v1/models` too, and its native API says more. Third
parties call `register()`, or name their protocol object in an entry point of
group `wfdoctor.backends` (`tinyllm = "tinyllm.wfdoctor:PROTOCOL"`), not both.
Built-ins and entry points are loaded on the first look-up, once per process,
so importing wfdoctor costs nothing for them.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from typing import Protocol, runtime_checkable

import aiohttp

from wfdoctor.model import WfdoctorError
from wfdoctor.sense.backends.base import Backend, BackendStatus, ServerReports

BUILTIN = ("wfdoctor.sense.backends.ollama", "wfdoctor.sense.backends.openai", "wfdoctor.sense.backends.inprocess")
ENTRY_POINT_GROUP = "wfdoctor.backends"


@runtime_checkable
class BackendProtocol(Protocol):
    """One protocol, declared. `probe` raises on anything that is not this protocol
    (transport errors, HTTP errors, ValueError/KeyError/TypeError on foreign JSON,
    WfdoctorError); discovery turns that into the status's error and tries the next."""

    name: str
    schemes: tuple[str, ...]       # URL schemes it speaks: ("http", "https"); a bare word counts as a scheme
    default_urls: tuple[str, ...]  # where discovery looks for it when no URL is named
    reports: ServerReports

    async def probe(self, client: aiohttp.ClientSession, url: str) -> BackendStatus: ...

    async def open(self, status: BackendStatus, model: str, timeout_s: float, max_streams: int,
                   client: str | None = None) -> Backend:
        """The backend; `client` names the stream reader (streaming.CLIENTS) where the protocol reads HTTP
        streams, None for the default; a protocol that reads no HTTP stream ignores it."""


def scheme_of(url: str) -> str:
    """The URL's scheme, lower case (schemes are case-insensitive: HTTP:// is http://)."""
    return (url.split("://", 1)[0] if "://" in url else url).lower()


class Registry:
    """Protocols in the order discovery tries them."""

    def __init__(self) -> None:
        self._protocols: list[BackendProtocol] = []
        self._loaded = False

    def register(self, protocol: BackendProtocol, before: str | None = None) -> None:
        """Add `protocol` last, or just before the protocol named `before` (to claim
        servers a more general protocol would also answer for)."""
        self._load()
        if any(p.name == protocol.name for p in self._protocols):
            raise WfdoctorError(f"backend protocol '{protocol.name}' is registered twice")
        index = self._protocols.index(self.named(before)) if before else len(self._protocols)
        self._protocols.insert(index, protocol)

    def protocols(self) -> list[BackendProtocol]:
        self._load()
        return list(self._protocols)

    def named(self, name: str) -> BackendProtocol:
        for protocol in self.protocols():
            if protocol.name == name:
                return protocol
        raise WfdoctorError(f"no backend protocol named '{name}' (known: {', '.join(self.names())})")

    def names(self) -> list[str]:
        return [p.name for p in self.protocols()]

    def speaking(self, url: str) -> list[BackendProtocol]:
        """The protocols that speak `url`'s scheme, in order."""
        scheme = scheme_of(url)
        return [p for p in self.protocols() if scheme in p.schemes]

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True  # before loading: loaded protocols may look things up
        for module in BUILTIN:
            self.register(importlib.import_module(module).PROTOCOL)
        for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            self.register(_loaded_entry(entry))


def _loaded_entry(entry: importlib.metadata.EntryPoint) -> BackendProtocol:
    """The protocol object an entry point names; a broken plugin is named in one line."""
    try:
        protocol = entry.load()
    except Exception as exc:  # third-party code: whatever it raises, say which plugin
        raise WfdoctorError(f"backend plugin '{entry.name}' ({entry.value}) failed to load: {exc}") from exc
    if not isinstance(protocol, BackendProtocol):
        raise WfdoctorError(f"backend plugin '{entry.name}' ({entry.value}) is not a backend protocol")
    return protocol


REGISTRY = Registry()  # the process's registry; looked up at each call, so a test may swap in a fresh one


def register(protocol: BackendProtocol, before: str | None = None) -> None:
    """Make `protocol` known to discovery and `connect` (see `Registry.register`)."""
    REGISTRY.register(protocol, before)


def protocols() -> list[BackendProtocol]:
    return REGISTRY.protocols()


def named(name: str) -> BackendProtocol:
    return REGISTRY.named(name)


def speaking(url: str) -> list[BackendProtocol]:
    return REGISTRY.speaking(url)
