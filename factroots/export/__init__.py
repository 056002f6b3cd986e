"""Write a factroots index's lines in other engines' formats."""

from factroots._lazy import lazy_exports

_EXPORTS = {
    "export_lucene": "factroots.export.lucene",
    "ExportSummary": "factroots.export.lucene",
}

__all__ = list(_EXPORTS)

__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)
