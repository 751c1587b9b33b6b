"""The troubleshooting guide from the data files in force: symptom -> cause -> priority -> actions -> levels.

Every row comes from data: the rulebook's triage rows, rules, causes (with their one-line meaning),
remedies, explanations, areas and actions catalogue; the alert rules; the recovery ladder's levels and
steps. So the guide cannot disagree with the rules: `scripts/gen_guide.py` writes the shipped one from
`shipped_guide()` and a test regenerates it, and `wfdoctor guide --rules FILE` shows a team's own rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from wfdoctor.app.datafiles import load_data_files
from wfdoctor.app.reports.guide import (CatalogueAction, Guide, GuideAction, GuideAlert, GuideArea, GuideEntry,
                                        GuideLevel, GuideRow, GuideSetting, GuideStep)
from wfdoctor.config.alerts import AlertRule, load_alert_rules
from wfdoctor.config.facts import Facts, load_facts
from wfdoctor.config.promql import metric_names, parse
from wfdoctor.config.recovery import RecoveryLadder, load_ladder
from wfdoctor.config.remedies import DEFAULT
from wfdoctor.config.rules import Area, RuleBook, load_rulebook


def _settings(backends: dict[str, str]) -> tuple[GuideSetting, ...]:
    return tuple(GuideSetting(server, setting) for server, setting in sorted(backends.items()))


def _catalogue(rulebook: RuleBook, entries: Sequence[GuideEntry]) -> tuple[CatalogueAction, ...]:
    return tuple(CatalogueAction(id=action_id, title=action.title, level=action.level, problem=action.problem,
                                 changes=action.changes, undo=action.undo, settings=_settings(action.backends),
                                 used_by=tuple(sorted({entry.code for entry in entries
                                                       if any(a.id == action_id for a in entry.actions)})))
                 for action_id, action in sorted(rulebook.actions.items()))


def _actions(variants: dict[str, list[str]], rulebook: RuleBook) -> tuple[GuideAction, ...]:
    """Each action an entry names once, in order: the default list's first, then each server's."""
    lists = sorted(variants.items(), key=lambda item: (item[0] != DEFAULT, item[0]))
    ids = list(dict.fromkeys(action for _, names in lists for action in names))
    out = []
    for action_id in ids:
        action = rulebook.actions[action_id]
        out.append(GuideAction(id=action_id, title=action.title, level=action.level,
                               servers=tuple(server for server, names in lists if action_id in names),
                               settings=_settings(action.backends)))
    return tuple(out)


def _watching(metrics: Iterable[str], alerts: Sequence[GuideAlert]) -> tuple[str, ...]:
    wanted = set(metrics)
    return tuple(sorted(alert.name for alert in alerts if wanted & set(alert.metrics)))


def _rule_entries(rulebook: RuleBook, alerts: Sequence[GuideAlert]) -> list[GuideEntry]:
    explained_by: dict[str, list[str]] = {}
    for code, rule_ids in rulebook.explains.items():
        for rule_id in rule_ids:
            explained_by.setdefault(rule_id, []).append(code)
    return [GuideEntry(kind="rule", id=rule_id, code=rule.code, row=rule.row, symptom=rulebook.rows[rule.row].symptom,
                       cause=rule.cause, priority=rule.priority, measured_by=rule.measured_by,
                       actions=_actions(rule.actions, rulebook), explains=(),
                       explained_by=tuple(sorted(explained_by.get(rule_id, []))),
                       alerts=_watching((condition.metric for condition in rule.when), alerts))
            for rule_id, rule in rulebook.rules.items()]


def _cause_entries(rulebook: RuleBook, alerts: Sequence[GuideAlert]) -> list[GuideEntry]:
    entries = []
    for code, cause in rulebook.causes.items():
        explains = tuple(rulebook.explains.get(code, []))
        metrics = [*cause.metrics, *(c.metric for rule_id in explains if rule_id in rulebook.rules
                                     for c in rulebook.rules[rule_id].when)]
        entries.append(GuideEntry(kind="cause", id=cause.rule, code=code, row=cause.row,
                                  symptom=rulebook.rows[cause.row].symptom, cause=cause.description,
                                  priority=cause.priority, measured_by="",
                                  actions=_actions(rulebook.remedies.by_id[cause.remedy].actions, rulebook),
                                  explains=explains, explained_by=(), alerts=_watching(metrics, alerts)))
    return entries


def _area_of(entry_id: str, areas: Sequence[Area]) -> Area:
    """The area with the longest prefix `entry_id` starts with (the last area when none fits)."""
    fits = [(len(prefix), index) for index, area in enumerate(areas) for prefix in area.prefixes
            if entry_id.startswith(prefix)]
    return areas[max(fits)[1]] if fits else areas[-1]


def _alert(rule: AlertRule, levels: dict[str, str]) -> GuideAlert:
    """`levels`: each recovery step's level ("" for a step the ladder lacks)."""
    return GuideAlert(name=rule.name, group=rule.group, severity=rule.labels.get("severity", "info"), for_s=rule.for_s,
                      expr=rule.written_expr or rule.expr, metrics=tuple(metric_names(parse(rule.expr))),
                      escalation=tuple(GuideStep(step, levels.get(step, "")) for step in rule.escalation))


def gather_guide(rulebook: RuleBook, alert_rules: Sequence[AlertRule], ladder: RecoveryLadder) -> Guide:
    """The guide of these data files (pure: no file is read here)."""
    levels = {step.id: step.level for step in ladder.steps}
    alerts = tuple(_alert(rule, levels) for rule in alert_rules)
    areas = list(rulebook.areas.values())
    entries = _rule_entries(rulebook, alerts) + _cause_entries(rulebook, alerts)
    grouped = [GuideArea(area.id, area.title, tuple(sorted(
        (entry for entry in entries if _area_of(entry.id, areas) is area),
        key=lambda entry: (entry.priority.rank, entry.id, entry.kind)))) for area in areas]
    return Guide(levels=tuple(GuideLevel(level.level, level.who, level.means) for level in ladder.levels),
                 rows=tuple(GuideRow(row.id, row.symptom, row.likely_cause, row.priority, row.action)
                            for row in rulebook.rows.values()),
                 areas=tuple(area for area in grouped if area.entries), alerts=alerts,
                 actions=_catalogue(rulebook, entries))


def _alert_rules(facts: Facts) -> list[AlertRule]:
    """The alert rules, checked against these facts; shown as written, so the tier used is the first."""
    return load_alert_rules(facts, facts.tier_rule.order[0])


def shipped_guide() -> Guide:
    """The guide of the packaged data files only: what docs/troubleshooting-guide.md shows."""
    return gather_guide(load_rulebook(), _alert_rules(load_facts()), load_ladder())


def build_guide(facts_path: Path | None = None, rules_paths: Sequence[Path] = ()) -> Guide:
    """The guide of the data files a command would use: packaged, the user's config dir, then these files."""
    files = load_data_files(facts_path, list(rules_paths))
    return gather_guide(files.rulebook, _alert_rules(files.facts), load_ladder())
