"""Hostile or silent servers' own view: whatever `/metrics` or `/slots` say, or when they never answer, a token
run ends as it would without them (exit 0, its requests stored), says "nothing to report" in a note, and
never waits longer than the view's read timeout."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import pytest

from wfdoctor.sense.backends.http import make_session
from wfdoctor.sense.backends.server_view import READ_TIMEOUT_S, read_metrics_view
from wfdoctor.store.db import Store
from wfdoctor.testing.fake_llm import FakeConfig, FakeLLMServer

SLACK_S = 2.0
HOSTILE_PAGES = {
    "garbage": "\x00\x01 not { prometheus ]]\n" * 50,
    "long, its last line cut": "llamacpp:requests_processing 1\n" * 3_000 + "llamacpp:requests_pro",
    "a counter that is not a number": "llamacpp:tokens_predicted_total lots\n",
    "html": "<html><body>metrics are off</body></html>",
}


@pytest.mark.parametrize("page", list(HOSTILE_PAGES.values()), ids=list(HOSTILE_PAGES))
def test_a_hostile_metrics_page_leaves_the_run_whole(wfdoctor, tmp_path: Path, page: str) -> None:
    config = FakeConfig(ttft_s=0.01, itl_s=0.002, tokens=8, implementation="llama.cpp",
                        answers={"/metrics": page, "/slots": page[:2000]})
    with FakeLLMServer(config) as server:
        result = wfdoctor("tokens", "--json", "--backend", server.base_url, "--runs", "2", "--no-bandwidth",
                          "--fail-on", "never")
    assert result.code == 0 and "Traceback" not in result.stderr, result.stderr
    doc = result.json()
    assert all(level["ok"] == 2 for level in doc["levels"])
    store = Store.open(tmp_path / "wfdoctor.db")
    try:
        samples = store.samples_of(doc["run_id"])
    finally:
        store.close()
    assert any(s.metric == "wf_llm_request_ttft_seconds" for s in samples)
    view = [s for s in samples if s.metric.startswith("wf_llm_server_view_")]
    noted = any("the server's own view: nothing to report" in note for note in doc["notes"])
    assert noted or all(s.metric == "wf_llm_server_view_waiting_requests" for s in view), (doc["notes"], view)


def test_a_metrics_endpoint_that_never_answers_is_given_up_after_the_read_timeout() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"

        async def read() -> tuple[str, float]:
            async with make_session(60.0) as client:
                started = time.monotonic()
                view = await read_metrics_view(client, url, "llama.cpp")
                return view.note, time.monotonic() - started

        note, took = asyncio.run(read())
    assert "no /metrics" in note
    assert took < READ_TIMEOUT_S + SLACK_S
