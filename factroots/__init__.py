"""factroots: trace the roots of facts in multilingual language models.

The public API, one import away::

    from factroots import FactIndex, build_index, trace_languages, load_masked_lm, probe
    from factroots import probe_and_attribute, attribute_saved, language_similarity
    from factroots import build_report

`attribute` and `similarity` are `attribute_saved` and `language_similarity` under the names of
the commands they back (`factroots attribute`, `factroots similarity`).

Each name is imported from its module on first use: `import factroots` imports neither torch
nor tantivy, and the core (index, query, trace) works without the `probe` and `report` extras.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from factroots._lazy import lazy_exports
from factroots.errors import FactrootsError

__version__ = "0.1.0"

_EXPORTS = {
    # index and query (factroots.indexer, factroots.search)
    "build_index": "factroots.indexer.builder",
    "Manifest": "factroots.indexer.manifest",
    "FactIndex": "factroots.search.index",
    "EntityCount": "factroots.search.index",
    "Cooccurrence": "factroots.search.index",
    "Evidence": "factroots.search.index",
    "EntityCounts": "factroots.search.index",
    "CooccurCounts": "factroots.search.index",
    "FactFile": "factroots.search.fact_file",
    "FactAnswer": "factroots.search.fact_file",
    "answer_facts": "factroots.search.fact_file",
    "list_indexes": "factroots.indexer.catalog",
    "IndexEntry": "factroots.indexer.catalog",
    "export_lucene": "factroots.export.lucene",
    "ExportSummary": "factroots.export.lucene",
    # tokenizers and the mLAMA data set
    "ModelTokenizer": "factroots.tokenizer",
    "load_tokenizer": "factroots.tokenizer",
    "as_tokenizer": "factroots.tokenizer",
    "Fact": "factroots.mlama",
    "MlamaLanguage": "factroots.mlama",
    "load_language": "factroots.mlama",
    "select_languages": "factroots.mlama",
    # trace, probe, attribute, similarity, report
    "trace_languages": "factroots.search.trace",
    "TraceRun": "factroots.search.trace",
    "load_masked_lm": "factroots.probing.model",
    "MaskedLM": "factroots.probing.model",
    "probe": "factroots.probing.predict",
    "ProbeResult": "factroots.probing.predict",
    "probe_and_attribute": "factroots.attribution.capture",
    "ProbeRun": "factroots.attribution.capture",
    "attribute_saved": "factroots.attribution.attribute",
    "attribute": "factroots.attribution.attribute:attribute_saved",
    "NeuronRows": "factroots.attribution.attribute",
    "language_similarity": "factroots.attribution.similarity",
    "similarity": "factroots.attribution.similarity:language_similarity",
    "Similarity": "factroots.attribution.similarity",
    "SimilarityRun": "factroots.attribution.similarity",
    "build_report": "factroots.report.build",
    "Report": "factroots.report.build",
    # the three tables
    "TRACE": "factroots.tables",
    "PREDICTIONS": "factroots.tables",
    "NEURONS": "factroots.tables",
    "read_table": "factroots.tables",
    "is_correct": "factroots.tables",
}

__all__ = ["FactrootsError", "__version__", *_EXPORTS]

__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)

if TYPE_CHECKING:  # the same names, for type checkers and editors
    from factroots.attribution.attribute import NeuronRows as NeuronRows
    from factroots.attribution.attribute import attribute_saved as attribute  # noqa: F401
    from factroots.attribution.attribute import attribute_saved as attribute_saved
    from factroots.attribution.capture import ProbeRun as ProbeRun
    from factroots.attribution.capture import probe_and_attribute as probe_and_attribute
    from factroots.attribution.similarity import Similarity as Similarity
    from factroots.attribution.similarity import SimilarityRun as SimilarityRun
    from factroots.attribution.similarity import language_similarity as language_similarity
    from factroots.attribution.similarity import language_similarity as similarity  # noqa: F401
    from factroots.export.lucene import ExportSummary as ExportSummary
    from factroots.export.lucene import export_lucene as export_lucene
    from factroots.indexer.builder import build_index as build_index
    from factroots.indexer.manifest import Manifest as Manifest
    from factroots.mlama import Fact as Fact
    from factroots.mlama import MlamaLanguage as MlamaLanguage
    from factroots.mlama import load_language as load_language
    from factroots.mlama import select_languages as select_languages
    from factroots.probing.model import MaskedLM as MaskedLM
    from factroots.probing.model import load_masked_lm as load_masked_lm
    from factroots.probing.predict import ProbeResult as ProbeResult
    from factroots.probing.predict import probe as probe
    from factroots.report.build import Report as Report
    from factroots.report.build import build_report as build_report
    from factroots.search.index import CooccurCounts as CooccurCounts
    from factroots.search.index import Cooccurrence as Cooccurrence
    from factroots.search.index import EntityCount as EntityCount
    from factroots.search.index import EntityCounts as EntityCounts
    from factroots.search.index import Evidence as Evidence
    from factroots.search.index import FactIndex as FactIndex
    from factroots.search.trace import TraceRun as TraceRun
    from factroots.search.trace import trace_languages as trace_languages
    from factroots.tables import NEURONS as NEURONS
    from factroots.tables import PREDICTIONS as PREDICTIONS
    from factroots.tables import TRACE as TRACE
    from factroots.tables import is_correct as is_correct
    from factroots.tables import read_table as read_table
    from factroots.tokenizer import ModelTokenizer as ModelTokenizer
    from factroots.tokenizer import as_tokenizer as as_tokenizer
    from factroots.tokenizer import load_tokenizer as load_tokenizer
