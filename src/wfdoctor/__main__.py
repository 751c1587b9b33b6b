"""`python -m wfdoctor` runs the CLI."""

from wfdoctor.surface.cli import main

main()
