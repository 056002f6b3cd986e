"""Open a factroots index and ask whether entities occur and co-occur in its lines; trace
mLAMA facts against it."""

from factroots._lazy import lazy_exports
from factroots.search.index import (
    CooccurCounts,
    Cooccurrence,
    EntityCount,
    EntityCounts,
    Evidence,
    FactIndex,
)

_EXPORTS = {
    "trace_languages": "factroots.search.trace",
    "trace_language": "factroots.search.trace",
    "TraceRun": "factroots.search.trace",
}

__all__ = [
    "CooccurCounts",
    "Cooccurrence",
    "EntityCount",
    "EntityCounts",
    "Evidence",
    "FactIndex",
    *_EXPORTS,
]

__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)
