"""Write docs/metrics.md from the metric registry (src/wfdoctor/data/metrics.yaml).

Run after editing the registry: `python scripts/gen_metrics_doc.py`. The test suite
regenerates the page and fails while the committed copy is stale.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from wfdoctor.config.metrics import load_metrics, render_markdown  # noqa: E402

DOC = ROOT / "docs" / "metrics.md"


def main() -> None:
    DOC.write_text(render_markdown(load_metrics()), encoding="utf-8")
    print(f"wrote {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
