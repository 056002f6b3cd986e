"""Open a factroots index and ask whether entities occur and co-occur in its lines."""

from factroots.search.index import Cooccurrence, EntityCount, Evidence, FactIndex

__all__ = ["Cooccurrence", "EntityCount", "Evidence", "FactIndex"]
