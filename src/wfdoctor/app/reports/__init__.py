"""What each use case returns, one module per use case: typed, frozen reports that views render and the API hands out.

A view imports its own report module, never the pipelines. The types a report
carries from lower layers are importable from its module too, so a view never
reaches into `sense/` or `measure/` itself.
"""
