"""Read WikiExtractor output, cut it into model-token lines, and build per-language indexes."""

from factroots._lazy import lazy_exports

_EXPORTS = {
    "build_index": "factroots.indexer.builder",
    "Manifest": "factroots.indexer.manifest",
    "read_manifest": "factroots.indexer.manifest",
    "index_path": "factroots.indexer.layout",
}

__all__ = list(_EXPORTS)

__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)
