"""The paper's tables and figures from traces, predictions and neurons."""

from factroots._lazy import lazy_exports

_EXPORTS = {
    "build_report": "factroots.report.build",
    "Report": "factroots.report.build",
}

__all__ = list(_EXPORTS)

__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)
