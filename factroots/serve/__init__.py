"""`factroots serve`: a read-only local fact explorer and JSON API over indexes and results."""

from factroots._lazy import lazy_exports

_EXPORTS = {"create_app": "factroots.serve.app", "Explorer": "factroots.serve.explorer"}

__all__ = list(_EXPORTS)

__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)
