"""Synthetic inputs for the causes, judged under the packaged limits and remedies."""

from __future__ import annotations

from wfdoctor.analyze.bottleneck import LevelSystem, ServerFacts, classify
from wfdoctor.analyze.tokens import Distribution, Knee, LevelSummary
from wfdoctor.config.facts import load_facts
from wfdoctor.config.limits import TokenLimits
from wfdoctor.config.rules import load_rulebook
from wfdoctor.model import Finding, Sample

FACTS = load_facts()
REMEDIES = load_rulebook().remedies
TOKENS = FACTS.limits.tokens
TTFT_TARGET_S = FACTS.targets["mid"].ttft_seconds
SERVER = ServerFacts(url="http://127.0.0.1:1", implementation="llama-cpp-python", model="m", pid=100)


def level(concurrency: int, throughput: float | None, ttft_s: float = 0.1, decode: float = 40.0, ok: int = 8,
          requests: int = 8, errors: dict[str, int] | None = None, **server_p50: float) -> LevelSummary:
    """One concurrency level whose every distribution is the one value given (so p50 is that value)."""
    values = {"ttft_s": ttft_s, "decode_tps": decode} | server_p50
    dists = {key: Distribution.of([value]) for key, value in values.items()}
    return LevelSummary(concurrency, requests, ok, errors or {}, throughput, 1.0, 0,
                        {k: v for k, v in dists.items() if v})


def cpu_reading(machine: float, processes: dict[str, float], gpu: float | None = None) -> list[Sample]:
    """One system reading: machine CPU share, cores per pid (named p<pid>), and the GPU's busy share."""
    out = [Sample("wf_cpu_utilization_ratio", machine, "ratio", "test")]
    out += [Sample("wf_process_cpu_utilization_ratio", cores, "cores", "test", {"pid": pid, "name": "p" + pid})
            for pid, cores in processes.items()]
    if gpu is not None:
        out.append(Sample("wf_gpu_utilization_ratio", gpu, "ratio", "test"))
    return out


def diagnose(levels: list[LevelSummary], knee: Knee, systems: list[LevelSystem] | None = None,
             server: ServerFacts = SERVER, limits: TokenLimits = TOKENS, ttft_target_s: float = TTFT_TARGET_S,
             client_pid: int = 1) -> list[Finding]:
    """The token-run causes under the packaged limits, the mid tier's TTFT target and the packaged remedies."""
    return classify(levels, knee, systems or [], server, client_pid, limits=limits, ttft_target_s=ttft_target_s,
                    remedies=REMEDIES)


def stored(run: int, value: float, ts: float, /, metric: str = "wf_decode_tps", unit: str = "tokens/s",
           **labels: str) -> tuple[int, Sample]:
    """One (run id, sample) row as the store hands metric histories over."""
    return run, Sample(metric, value, unit, "test", labels, ts)


def history(values: list[float], metric: str = "wf_decode_tps", start_ts: float = 0.0, step_s: float = 3600.0,
            **labels: str) -> list[tuple[int, Sample]]:
    """One stored run per value, `step_s` apart, each at its own revision (rev0, rev1, ...)."""
    return [stored(run, value, start_ts + run * step_s, metric, **labels, revision=f"rev{run}")
            for run, value in enumerate(values)]


def rippled_memory(*segments: tuple[int, float], start: float = 1e8,
                   ripple: float = 2.0 ** 16) -> tuple[list[float], list[float]]:
    """A 1 Hz memory series: (seconds, bytes per second) segments one after another, from `start` bytes, with an
    alternating +-`ripple` so every fit has a residual (an exact line would leave nothing for BIC or the MAD)."""
    rates = [rate for seconds, rate in segments for _ in range(seconds)]
    values = [start]
    for rate in rates:
        values.append(values[-1] + rate)
    return ([float(second) for second in range(len(values))],
            [value + (ripple if second % 2 == 0 else -ripple) for second, value in enumerate(values)])
