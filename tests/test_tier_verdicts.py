"""The tier verdict in full: each resource as measured and compared, the explanation sentence, the notes.

Under the packaged rule: mid needs 6 cores, 12 GiB RAM and 4 GiB VRAM; high 12 cores, 24 GiB and 12 GiB;
the OS reports 94 % of the installed RAM.
"""

from __future__ import annotations

from tests.builders import FACTS
from wfdoctor.analyze.tiers import GIB, Limit, classify_tier
from wfdoctor.model import Sample

RULE = FACTS.tier_rule
MID, HIGH = RULE.limits["mid"], RULE.limits["high"]


def probe(physical: float | None = 8, ram_gib: float | None = 15.5, *vram_gib: float,
          logical: float | None = None) -> list[Sample]:
    """A machine as the system probe reports it: RAM as the OS reports it, one sample per GPU."""
    samples = []
    if physical is not None:
        samples.append(Sample("wf_cpu_physical_cores", physical, "cores", "test"))
    if logical is not None:
        samples.append(Sample("wf_cpu_logical_cores", logical, "cores", "test"))
    if ram_gib is not None:
        samples.append(Sample("wf_memory_total_bytes", ram_gib * GIB, "bytes", "test"))
    samples += [Sample("wf_gpu_memory_total_bytes", gib * GIB, "bytes", "test", {"gpu": str(index)})
                for index, gib in enumerate(vram_gib)]
    return samples


def test_each_resource_is_measured_in_nominal_units_and_compared_with_the_next_tier() -> None:
    # 15.5 GiB reported is a 16.5 GiB (nominal "16 GB") machine; VRAM is rounded to a tenth of a GiB.
    verdict = classify_tier(probe(8, 15.5, 6.27), FACTS)
    assert verdict.limits == [
        Limit("physical cores", 8, "cores", "mid", "high", HIGH.physical_cores),
        Limit("RAM", 16.5, "GiB", "mid", "high", HIGH.ram_gib),
        Limit("largest GPU VRAM", 6.3, "GiB", "mid", "high", HIGH.vram_gib),
    ]
    assert (verdict.tier, verdict.rule, verdict.notes) == ("mid", RULE.name, [])
    assert (verdict.targets, verdict.thresholds) == (FACTS.targets["mid"], FACTS.thresholds["mid"])


def test_the_explanation_names_every_deciding_resource_and_what_the_next_tier_needs() -> None:
    verdict = classify_tier(probe(8, 15.5, 6.27), FACTS)
    assert verdict.explanation() == (f"physical cores 8 cores < {HIGH.physical_cores:g} cores needed for high; "
                                     f"RAM 16.5 GiB < {HIGH.ram_gib:g} GiB needed for high; "
                                     f"largest GPU VRAM 6.3 GiB < {HIGH.vram_gib:g} GiB needed for high")


def test_a_top_tier_machine_meets_the_top_tier_on_every_resource() -> None:
    verdict = classify_tier(probe(16, 60.0, 24.0), FACTS)
    assert verdict.tier == "high"
    assert verdict.limits[0] == Limit("physical cores", 16, "cores", "high", None, None)
    assert verdict.explanation() == ("physical cores 16 cores meets the top tier; RAM 63.8 GiB meets the top tier; "
                                     "largest GPU VRAM 24 GiB meets the top tier")


def test_the_largest_gpu_counts_and_other_samples_are_ignored() -> None:
    samples = probe(16, 60.0, 8.0, 24.0, 2.0) + [Sample("wf_gpu_memory_used_bytes", 80 * GIB, "bytes", "test")]
    verdict = classify_tier(samples, FACTS)
    assert (verdict.tier, verdict.limits[2].measured) == ("high", 24.0)


def test_the_first_reading_of_a_resource_is_the_one_used() -> None:
    samples = probe(8, 15.5, 6.27) + probe(16, 60.0)
    assert [limit.measured for limit in classify_tier(samples, FACTS).limits] == [8, 16.5, 6.3]


def test_without_a_physical_core_count_the_logical_count_is_used_and_said() -> None:
    verdict = classify_tier(probe(None, 60.0, 24.0, logical=16), FACTS)
    assert (verdict.tier, verdict.limits[0].measured) == ("high", 16)
    assert verdict.notes == ["physical core count unknown: logical cores used"]


def test_without_any_core_count_one_core_is_assumed() -> None:
    verdict = classify_tier(probe(None, 60.0, 24.0), FACTS)
    assert (verdict.tier, verdict.limits[0].measured) == ("low", 1.0)
    assert verdict.explanation() == f"physical cores 1 cores < {MID.physical_cores:g} cores needed for mid"


def test_a_machine_that_reports_no_memory_counts_zero_ram_and_zero_vram() -> None:
    verdict = classify_tier(probe(16, None), FACTS)
    assert [(limit.resource, limit.measured) for limit in verdict.decided_by] == [("RAM", 0.0),
                                                                                 ("largest GPU VRAM", 0.0)]
    assert verdict.notes == ["no GPU memory measured: VRAM counts as 0"]
    assert verdict.tier == "low"
