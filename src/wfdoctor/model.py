"""The shared vocabulary: every layer speaks in these types.

They are plain dataclasses so that `analyze/` can build them from synthetic data
in tests, and `store/` and `surface/` can turn them into rows and JSON without
knowing where they came from.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any


class WfdoctorError(Exception):
    """A user-facing error (bad input, unreachable file, broken config).

    The CLI prints its message as one line and exits with `exit_code` (2 unless the
    error says otherwise, e.g. a profiled program killed by a signal); it never shows
    a traceback for these.
    """

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class Priority(str, Enum):
    """Finding priority, ordered from most to least urgent."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    @property
    def rank(self) -> int:
        """0 for critical ... 4 for info: sort key, smaller is more urgent."""
        return list(Priority).index(self)

    def at_least(self, other: Priority) -> bool:
        return self.rank <= other.rank


# The times a stored point may carry: 1970-01-01 to 2200-01-01 UTC (Unix seconds). Anything outside is a
# typo or a unit mistake (ms, ns), and `datetime` cannot show it: it is refused on import and skipped on read.
EARLIEST_TS, LATEST_TS = 0.0, 7_258_118_400.0
PLAUSIBLE_TIMES = "between 1970-01-01 and 2200-01-01 UTC"


# The largest magnitude a stored value may have. Far beyond any measurement (1e100 s, bytes, tokens/s), and far
# enough below float's 1.8e308 that the statistics' differences, sums and squares of such values stay finite.
MAX_MAGNITUDE = 1e100


def plausible_value(value: float) -> bool:
    """Finite and within MAX_MAGNITUDE (false for NaN and the infinities)."""
    return abs(value) <= MAX_MAGNITUDE


def plausible_time(ts: float) -> bool:
    """Between EARLIEST_TS and LATEST_TS (false for NaN)."""
    return EARLIEST_TS <= ts <= LATEST_TS


def plausible_point(value: float, ts: float) -> bool:
    """A plausible value at a plausible time: what the history can judge and show."""
    return plausible_value(value) and plausible_time(ts)


@dataclass(frozen=True)
class Sample:
    """One measured number.

    `metric` follows Prometheus naming (`wf_cpu_utilization_ratio`); `source`
    says which API produced it (`psutil.cpu_percent`, `nvml`, ...), so every
    printed number can be traced to a measurement.
    """

    metric: str
    value: float
    unit: str
    source: str
    labels: dict[str, str] = field(default_factory=dict)
    ts: float = field(default_factory=time.time)

    def label(self, key: str, default: str = "") -> str:
        return self.labels.get(key, default)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SampleBatch:
    """Samples taken at one instant that share some labels; probes fill one per reading."""

    ts: float = field(default_factory=time.time)
    common: dict[str, str] = field(default_factory=dict)
    samples: list[Sample] = field(default_factory=list)

    def add(self, metric: str, value: float | None, unit: str, source: str, **labels: str) -> None:
        """Record a value; None (not supported, not reported) records nothing."""
        if value is not None:
            self.samples.append(Sample(metric, float(value), unit, source, self.common | labels, self.ts))


@dataclass(frozen=True)
class Finding:
    """A triage rule that matched, or a cause the analysis found, with the samples that prove it.

    `explained_by` is the code of the measured cause that explains this symptom (empty when none
    does): a report shows the symptom under its cause instead of ranking it as a verdict of its own.
    """

    rule_id: str
    code: str
    row: str
    symptom: str
    cause: str
    priority: Priority
    actions: list[str]
    evidence: list[Sample]
    summary: str
    explained_by: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["priority"] = self.priority.value
        return data


class RuleStatus(str, Enum):
    """What a triage rule concluded for this run."""

    MATCHED = "matched"
    OK = "ok"
    NOT_MEASURED = "not_measured"


@dataclass(frozen=True)
class RuleResult:
    """The outcome of one rule: a finding, a pass, or the measurement it lacks."""

    rule_id: str
    row: str
    status: RuleStatus
    finding: Finding | None = None
    missing_inputs: list[str] = field(default_factory=list)
    measured_by: str = ""


@dataclass
class ActionRecord:
    """Something wfdoctor changed (or, in a dry run, would change), with evidence either side."""

    kind: str
    target: str
    level: str
    applied: bool
    reason: str
    before: dict[str, Any]
    after: dict[str, Any]
    error: str = ""
    ts: float = field(default_factory=time.time)
    alert: str = ""      # the alert that caused it (name and fingerprint), empty when a person asked
    outcome: str = ""    # what the after-evidence showed: "relieved", "no change", "dry run", "failed", ...


class AlertState(str, Enum):
    """An alert's lifecycle, as Prometheus names it: pending until `for` has passed, then firing, then resolved."""

    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class Alert:
    """One alert instance: a rule matched for one label set.

    `labels` are Prometheus-style (alertname, severity and the series' own labels), so
    the same alert can be pushed to Alertmanager unchanged; two alerts with equal labels
    are one alert (deduplicated by `fingerprint`). `escalation` names the recovery steps
    the rule asks for, in order.
    """

    name: str
    labels: dict[str, str]
    annotations: dict[str, str]
    state: AlertState
    value: float | None
    active_at: float
    fired_at: float | None = None
    resolved_at: float | None = None
    escalation: tuple[str, ...] = ()

    @property
    def fingerprint(self) -> str:
        """A stable id of the label set: 16 hex digits of its SHA-256."""
        text = json.dumps(self.labels, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]

    @property
    def severity(self) -> str:
        return self.labels.get("severity", "")


@dataclass
class Run:
    """One measurement session with its settings, environment and samples."""

    command: str
    started_at: float
    settings: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    samples: list[Sample] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    tier: str = ""
    finished_at: float | None = None
    id: int | None = None


# --- The UI row: what a page's wf-perf-monitor.js reports (issue 12) ---

@dataclass(frozen=True)
class ScriptTime:
    """One script's share of the long animation frames of a report (LoAF attribution).

    `source` is the script's URL (or the invoker, for inline handlers); both are page text: untrusted.
    """

    source: str
    invoker: str
    duration_s: float          # time the script ran inside long animation frames
    forced_layout_s: float     # of which forced style and layout (layout thrashing)


@dataclass(frozen=True)
class FrameReport:
    """A page's frames over one reporting interval, as wf-perf-monitor.js measured them.

    Times in seconds. `long_animation_s`, `script_s`, `style_layout_s` and `forced_layout_s` sum over
    the interval's long animation frames (LoAF, frames over 50 ms); they are 0 where the browser has
    no LoAF (`loaf_supported` False). `dom_nodes` and `heap_bytes` are None where not exposed.
    """

    page: str
    session: str
    ts: float                  # end of the interval, seconds since 1970 (the monitor's clock on arrival)
    interval_s: float
    frames: int
    frame_mean_s: float
    frame_p50_s: float
    frame_p95_s: float
    frame_p99_s: float
    frame_max_s: float
    jitter_s: float            # standard deviation of the frame times
    fps: float
    over_budget_share: float   # share of frames longer than the budget (facts: common.frame_budget_ms)
    long_tasks: int
    long_task_s: float
    loaf_supported: bool
    long_animation_frames: int
    long_animation_s: float
    script_s: float
    style_layout_s: float
    forced_layout_s: float
    scripts: list[ScriptTime] = field(default_factory=list)
    dom_nodes: int | None = None
    heap_bytes: float | None = None
    grade: str = ""            # the page's own grade (EXCELLENT / GOOD / POOR), for display; the judge recomputes


# --- The troubleshooting workflow (issue 13): before/after verdicts and incidents ---

class Verdict(str, Enum):
    """What a before/after comparison concluded, in the metric's own direction (its polarity)."""

    IMPROVED = "improved"
    UNCHANGED = "unchanged"          # tested with enough data: no significant shift of at least the minimum effect
    WORSE = "worse"
    INCONCLUSIVE = "inconclusive"    # too few measurements on a side, or a metric without a direction


@dataclass(frozen=True)
class MetricComparison:
    """One metric (one series: metric plus labels) measured before and after, compared with statistics.

    `change` is the relative shift of the medians, after against before (-0.2: 20 % lower), with its
    bootstrap interval at `confidence`; `effect_size` is Cliff's delta of after against before (-1..1: the
    share of pairs where after is larger minus the share where it is smaller); `p_value` is the two-sided
    Mann-Whitney test's. None where it cannot be computed (a side empty, a median of 0).
    """

    metric: str
    labels: dict[str, str]
    unit: str
    higher_is_better: bool | None
    before_n: int
    after_n: int
    before_median: float | None
    after_median: float | None
    change: float | None
    change_low: float | None
    change_high: float | None
    confidence: float
    effect_size: float | None
    p_value: float | None
    verdict: Verdict
    reason: str                      # one line: why this verdict (the test, or what was missing)


class ActionDisposition(str, Enum):
    """What became of one proposed action in a troubleshooting session."""

    APPLIED = "applied"              # L1, done by wfdoctor (with --apply)
    DRY_RUN = "dry_run"              # L1 without --apply: what it would do, logged
    COMMAND = "command"              # L2: the exact command was printed for the user to run
    INSTRUCTIONS = "instructions"    # L3-L4: what a person does
    DONE = "done"                    # a person did it, as they said (--interactive, or --fixed-by when validating)
    DECLINED = "declined"            # --interactive: the user said no
    ROLLED_BACK = "rolled_back"      # applied, made things worse, undone
    FAILED = "failed"                # applying it failed (the error is kept)


@dataclass(frozen=True)
class IncidentAction:
    """One action of the catalogue proposed for an incident's cause, and what became of it."""

    action_id: str                   # the catalogue id (data/rules/30-actions.yaml)
    title: str
    level: str                       # L1..L4 (the escalation matrix)
    disposition: ActionDisposition
    detail: str = ""                 # the command, the instructions, the error, the rollback's outcome
    record: ActionRecord | None = None   # the logged change (L1), with before/after evidence


@dataclass
class Incident:
    """A documented troubleshooting session: symptoms -> cause -> actions -> validation -> resolution.

    `findings` are ranked (causes before the symptoms they explain); `cause` is the top cause's code.
    `fingerprint` says on what it happened (tier, CPU, cores, memory, GPU, backend, model, versions), so a
    match from another machine or server is shown as such. `status`: "open" (nothing validated yet),
    "resolved" (validated improved), "unresolved" (unchanged or inconclusive), "rolled_back" (worse, undone).
    """

    created_at: float
    status: str
    cause: str
    summary: str
    symptoms: list[str]
    findings: list[Finding]
    actions: list[IncidentAction]
    validation: list[MetricComparison]
    verdict: Verdict
    fingerprint: dict[str, str]
    note: str = ""
    before_runs: list[int] = field(default_factory=list)
    after_runs: list[int] = field(default_factory=list)
    matched: list[int] = field(default_factory=list)   # past incidents this one was matched with
    resolved_at: float | None = None
    id: int | None = None
    origin: str = "local"            # "imported: <file name>" for an incident a team member's export brought in
