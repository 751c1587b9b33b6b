"""Regenerate the JSON Schemas of every `--json` document (src/wfdoctor/data/schemas).

Usage: .venv/bin/python scripts/gen_schemas.py
Run it after changing a document class in src/wfdoctor/surface/views/; the test
suite fails while the shipped schemas differ from what the classes generate.
"""

from wfdoctor.surface.views.schemas import write_all

if __name__ == "__main__":
    for path in write_all():
        print(path)
