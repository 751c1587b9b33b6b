"""One view per command: a Rich renderer and the typed JSON document, both built from the command's report.

Views only read reports (`wfdoctor.app.reports`, one module per command); they never measure, judge or store.
"""
