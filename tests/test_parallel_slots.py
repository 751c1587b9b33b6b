"""A server that says how many requests it generates at once (llama.cpp's `total_slots`) is judged with it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.builders import diagnose, level
from wfdoctor.analyze.bottleneck import ServerFacts
from wfdoctor.analyze.tokens import Knee
from wfdoctor.sense.backends.client import connect
from wfdoctor.testing.fake_llm import FakeConfig, FakeLLMServer

KNEE = Knee(2, "throughput stops scaling at concurrency 2")
# TTFT grows with the streams while each stream's decode rate holds: what a serialising server looks like.
QUEUEING_LOOK = [level(2, 40.0, ttft_s=0.25, decode=20.0), level(8, 40.0, ttft_s=0.75, decode=19.0)]


def llama_cpp(slots: int | None) -> ServerFacts:
    return ServerFacts(url="http://127.0.0.1:1", implementation="llama.cpp", model="m", pid=100, slots=slots)


def test_a_server_with_a_slot_for_every_stream_is_never_called_serialising() -> None:
    [finding] = diagnose(QUEUEING_LOOK, KNEE, server=llama_cpp(8))
    assert finding.code == "THROUGHPUT_SATURATED"
    assert finding.cause == "concurrent streams run in parallel (8 slots) but share saturated compute"


def test_a_server_with_fewer_slots_than_streams_can_still_serialise() -> None:
    [finding] = diagnose(QUEUEING_LOOK, KNEE, server=llama_cpp(2))
    assert finding.code == "SERVER_SERIALISES"


def test_a_server_that_does_not_say_is_judged_by_the_measurement_alone() -> None:
    [finding] = diagnose(QUEUEING_LOOK, KNEE, server=llama_cpp(None))
    assert finding.code == "SERVER_SERIALISES"


def test_a_single_slot_is_not_named_as_parallelism() -> None:
    levels = [level(1, 40.0, ttft_s=0.25, decode=40.0), level(4, 42.0, ttft_s=0.25, decode=10.0)]
    [finding] = diagnose(levels, KNEE, server=llama_cpp(1))
    assert finding.cause == "concurrent streams run in parallel but share saturated compute"


def slots_at(url: str) -> int | None:
    async def opened() -> int | None:
        backend = await connect(url, None, timeout_s=5.0)
        await backend.aclose()
        return backend.status.slots

    return asyncio.run(opened())


def props(total_slots: Any) -> dict[str, Any]:
    return {"default_generation_settings": {"n_ctx": 2048}, "total_slots": total_slots}


@pytest.mark.parametrize("answer, slots", [(props(3), 3), (props("3"), None), (props(0), None), (props(None), None)])
def test_llama_cpp_says_its_slots_in_props_and_a_wrong_answer_means_unknown(answer: dict[str, Any],
                                                                            slots: int | None) -> None:
    with FakeLLMServer(FakeConfig(implementation="llama.cpp", props=answer)) as server:
        assert slots_at(server.base_url) == slots


def test_other_servers_say_nothing_of_slots() -> None:
    with FakeLLMServer(FakeConfig(implementation="ollama")) as server:
        assert slots_at(server.base_url) is None
