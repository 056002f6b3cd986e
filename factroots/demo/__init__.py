"""A self-contained demonstration on a generated corpus with planted facts."""

from factroots._lazy import lazy_exports

_EXPORTS = {
    "run_demo": "factroots.demo.run",
    "DemoResult": "factroots.demo.run",
}

__all__ = list(_EXPORTS)

__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)
