"""The fault suite's own fixtures.

`each_client`: the streaming modules run every case once per stream reader
(`--client lean`, the default, and `--client aiohttp`), through the variable
both the CLI and the API read, so a fault handled by one client and not the
other fails here.
"""

from __future__ import annotations

import pytest

from wfdoctor.sense.backends.streaming import CLIENT_VARIABLE, CLIENTS


@pytest.fixture(params=CLIENTS)
def each_client(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(CLIENT_VARIABLE, request.param)
    return str(request.param)
