"""Write the shipped Grafana dashboard, src/wfdoctor/data/exports/grafana-dashboard.json.

Run after changing the panels in src/wfdoctor/surface/grafana.py: `python scripts/gen_grafana.py`.
The test suite regenerates the document and fails while the shipped copy is stale.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from wfdoctor.surface.grafana import SHIPPED, render_dashboard


def main() -> None:
    SHIPPED.parent.mkdir(parents=True, exist_ok=True)
    SHIPPED.write_text(render_dashboard(), encoding="utf-8")
    print(f"wrote {SHIPPED.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
