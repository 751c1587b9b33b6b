"""What the fake server sends, in each server's shapes: streamed events in Ollama's and the OpenAI wire
formats, HTTP/1.1 chunks, and llama.cpp's `GET /props` and the `timings` of its last streamed event, as
llama.cpp's server README documents them (the fields a client reads)."""

from __future__ import annotations

import json
from typing import Any

MODEL = "fake-model:1b"  # the one model the fake server serves by default
WORDS = ["the", " quick", " brown", " fox", " jumps", " over", " a", " lazy", " dog", "."]


def llama_cpp_props(total_slots: int) -> dict[str, Any]:
    """`GET /props` as llama.cpp's server README documents it (the fields a client reads)."""
    return {
        "default_generation_settings": {
            "id": 0, "id_task": -1, "n_ctx": 4096, "speculative": False, "is_processing": False,
            "params": {"n_predict": -1, "seed": 4294967295, "temperature": 0.8, "top_k": 40, "top_p": 0.95,
                       "min_p": 0.05, "stream": True, "timings_per_token": False},
        },
        "total_slots": total_slots,
        "model_path": f"/models/{MODEL}.gguf",
        "chat_template": "",
        "modalities": {"vision": False},
        "build_info": "b0000-fake",
    }


def llama_cpp_timings(prompt_n: int, prompt_s: float, predicted_n: int, predicted_s: float) -> dict[str, float]:
    """llama.cpp's `timings` object: prompt (prefill) and predicted (decode) counts and milliseconds."""
    prompt_ms, predicted_ms = prompt_s * 1000, predicted_s * 1000
    return {
        "prompt_n": prompt_n, "prompt_ms": prompt_ms,
        "prompt_per_token_ms": prompt_ms / prompt_n if prompt_n else 0.0,
        "prompt_per_second": prompt_n / prompt_s if prompt_s > 0 else 0.0,
        "predicted_n": predicted_n, "predicted_ms": predicted_ms,
        "predicted_per_token_ms": predicted_ms / predicted_n if predicted_n else 0.0,
        "predicted_per_second": predicted_n / predicted_s if predicted_s > 0 else 0.0,
    }


def event(path: str, word: str) -> bytes:
    """One content event in the wire format of `path`."""
    if path == "/api/generate":
        return json.dumps({"model": MODEL, "response": word, "done": False}).encode() + b"\n"
    if path == "/api/chat":
        return json.dumps({"model": MODEL, "message": {"role": "assistant", "content": word},
                           "done": False}).encode() + b"\n"
    if path == "/v1/completions":
        payload = {"object": "text_completion", "choices": [{"index": 0, "text": word, "finish_reason": None}]}
    else:
        payload = {"object": "chat.completion.chunk",
                   "choices": [{"index": 0, "delta": {"content": word}, "finish_reason": None}]}
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


def chunk(data: bytes) -> bytes:
    """One HTTP/1.1 chunked-transfer frame."""
    return b"%x\r\n%s\r\n" % (len(data), data)
