"""The use cases: one pipeline per command, shared by the CLI, the Python API and later the monitor.

Each module strings the lower layers together (sense, measure, analyze, store) and
returns a typed, frozen report (`app/reports/`); nothing here prints.
"""
