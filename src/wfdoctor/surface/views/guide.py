"""What `wfdoctor guide --json` prints: the troubleshooting guide's rows as gathered from the data files."""

from __future__ import annotations

from wfdoctor.app.reports.guide import CatalogueAction, Guide, GuideAlert, GuideArea, GuideLevel, GuideRow
from wfdoctor.surface.views.common import Document, schema_field

SCHEMA_ID = "wfdoctor.guide/v1"


class GuideDocument(Document):
    """The escalation levels, the triage matrix, each area's rules and causes with their actions, the alert rules
    and the actions catalogue."""

    schema_id: str = schema_field(SCHEMA_ID)
    levels: list[GuideLevel]
    rows: list[GuideRow]
    areas: list[GuideArea]
    alerts: list[GuideAlert]
    actions: list[CatalogueAction]


def document(guide: Guide) -> GuideDocument:
    return GuideDocument(levels=list(guide.levels), rows=list(guide.rows), areas=list(guide.areas),
                         alerts=list(guide.alerts), actions=list(guide.actions))
