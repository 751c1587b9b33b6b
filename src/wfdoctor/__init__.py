"""wfdoctor: the performance doctor for WIRTHFORGE and local LLM servers.

The public Python API (docs/api.md): the functions the CLI calls, their options
and their reports, e.g.

    import wfdoctor
    report = wfdoctor.diagnose(wfdoctor.DiagnoseOptions(window_s=0.5, embedded=False))
    print(report.tier.tier, [finding.code for finding in report.findings])

Names load on first use, so `import wfdoctor` costs almost nothing.
"""

from wfdoctor._version import __version__

TYPE_CHECKING = False  # not `from typing import ...`: importing typing alone would double the cost of the import

_EXPORTS = {
    "wfdoctor.app.api": ("diagnose", "measure_tokens", "measure_capacity", "run_council", "watch_memory", "profile_memory",
                         "model_action", "check_regressions", "show_series", "record_results", "history",
                         "database", "list_alerts", "silence_alerts", "unsilence", "recover", "check_recovery_inputs",
                         "troubleshooting_guide", "troubleshoot", "validate_incident", "compare_runs",
                         "list_incidents", "show_incident", "search_incidents", "export_incidents", "import_incidents",
                         "build_report"),
    "wfdoctor.app.reports.incidents": ("IncidentsReport", "IncidentReport", "ExportReport", "ImportReport"),
    "wfdoctor.app.troubleshoot": ("TroubleshootOptions",),
    "wfdoctor.app.troubleshoot_measure": ("MeasureSettings",),
    "wfdoctor.app.reports.troubleshoot": ("TroubleshootReport",),
    "wfdoctor.app.monitor": ("Monitor", "MonitorOptions", "MonitorSummary"),
    "wfdoctor.app.recover": ("RecoverOptions",),
    "wfdoctor.app.reports.recover": ("RecoverReport",),
    "wfdoctor.app.diagnose": ("DiagnoseOptions",),
    "wfdoctor.app.tokens": ("TokensOptions",),
    "wfdoctor.app.capacity": ("CapacityOptions",),
    "wfdoctor.app.reports.capacity": ("CapacityReport",),
    "wfdoctor.app.council": ("CouncilOptions",),
    "wfdoctor.app.memory": ("WatchOptions", "ProfileOptions", "ModelsOptions"),
    "wfdoctor.analyze.regress_check": ("CheckSettings",),
    "wfdoctor.measure.council": ("MemberSpec",),
    "wfdoctor.app.reports.diagnose": ("DiagnoseReport",),
    "wfdoctor.app.reports.tokens": ("TokensReport",),
    "wfdoctor.app.reports.council": ("CouncilReport",),
    "wfdoctor.app.reports.memory": ("WatchReport", "ProfileReport", "ModelsReport"),
    "wfdoctor.app.reports.regress": ("RegressReport", "RecordReport"),
    "wfdoctor.app.reports.history": ("HistoryReport",),
    "wfdoctor.app.reports.report": ("ReportDocument", "ReportTarget"),
    "wfdoctor.app.reports.monitor": ("AlertsReport",),
    "wfdoctor.app.reports.compare": ("CompareReport",),
    "wfdoctor.app.progress": ("Progress",),
    "wfdoctor.model": ("WfdoctorError", "Finding", "Priority", "Sample", "Run", "Incident"),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = [  # spelled out for linters and type checkers; a test checks it matches _EXPORTS
    "__version__",
    "diagnose", "measure_tokens", "measure_capacity", "run_council", "watch_memory", "profile_memory", "model_action",
    "check_regressions", "show_series", "record_results", "history", "database", "list_alerts", "silence_alerts",
    "unsilence", "recover", "check_recovery_inputs", "troubleshooting_guide", "Monitor", "MonitorOptions",
    "MonitorSummary", "AlertsReport",
    "RecoverOptions", "RecoverReport",
    "list_incidents", "show_incident", "search_incidents", "export_incidents", "import_incidents",
    "IncidentsReport", "IncidentReport", "ExportReport", "ImportReport",
    "DiagnoseOptions", "TokensOptions", "CouncilOptions", "WatchOptions", "ProfileOptions", "ModelsOptions",
    "CheckSettings", "MemberSpec",
    "CapacityOptions", "CapacityReport",
    "DiagnoseReport", "TokensReport", "CouncilReport", "WatchReport", "ProfileReport", "ModelsReport",
    "RegressReport", "RecordReport", "HistoryReport",
    "Progress", "WfdoctorError", "Finding", "Priority", "Sample", "Run",
    "troubleshoot", "validate_incident", "TroubleshootOptions", "MeasureSettings", "TroubleshootReport", "Incident",
    "compare_runs", "CompareReport",
    "build_report", "ReportDocument", "ReportTarget",
]

if TYPE_CHECKING:
    from typing import Any

    from wfdoctor.analyze.regress_check import CheckSettings
    from wfdoctor.app.api import measure_capacity
    from wfdoctor.app.capacity import CapacityOptions
    from wfdoctor.app.reports.capacity import CapacityReport
    from wfdoctor.app.api import (check_regressions, database, diagnose, history, list_alerts, measure_tokens,
                                  model_action, profile_memory, record_results, run_council, show_series,
                                  recover, check_recovery_inputs, silence_alerts, unsilence, watch_memory,
                                  troubleshooting_guide, compare_runs)
    from wfdoctor.app.monitor import Monitor, MonitorOptions, MonitorSummary
    from wfdoctor.app.recover import RecoverOptions
    from wfdoctor.app.reports.recover import RecoverReport
    from wfdoctor.app.council import CouncilOptions
    from wfdoctor.app.diagnose import DiagnoseOptions
    from wfdoctor.app.memory import ModelsOptions, ProfileOptions, WatchOptions
    from wfdoctor.app.progress import Progress
    from wfdoctor.app.reports.compare import CompareReport
    from wfdoctor.app.reports.council import CouncilReport
    from wfdoctor.app.reports.diagnose import DiagnoseReport
    from wfdoctor.app.reports.history import HistoryReport
    from wfdoctor.app.api import build_report
    from wfdoctor.app.reports.report import ReportDocument, ReportTarget
    from wfdoctor.app.reports.incidents import ExportReport, ImportReport, IncidentReport, IncidentsReport
    from wfdoctor.app.api import (export_incidents, import_incidents, list_incidents, search_incidents,
                                  show_incident)
    from wfdoctor.app.reports.monitor import AlertsReport
    from wfdoctor.app.reports.memory import ModelsReport, ProfileReport, WatchReport
    from wfdoctor.app.reports.regress import RecordReport, RegressReport
    from wfdoctor.app.reports.tokens import TokensReport
    from wfdoctor.app.tokens import TokensOptions
    from wfdoctor.measure.council import MemberSpec
    from wfdoctor.app.api import troubleshoot, validate_incident
    from wfdoctor.app.reports.troubleshoot import TroubleshootReport
    from wfdoctor.app.troubleshoot import TroubleshootOptions
    from wfdoctor.app.troubleshoot_measure import MeasureSettings
    from wfdoctor.model import Finding, Incident, Priority, Run, Sample, WfdoctorError


def __getattr__(name: str) -> "Any":
    """Import a public name's module on first use (PEP 562)."""
    if name not in _WHERE:
        raise AttributeError(f"module 'wfdoctor' has no attribute '{name}'")
    from importlib import import_module

    value = getattr(import_module(_WHERE[name]), name)
    globals()[name] = value
    return value


def __dir__() -> "list[str]":
    return sorted(__all__)
