"""PROBELESS neuron attribution and language similarity by shared neurons."""

from factroots._lazy import lazy_exports

_EXPORTS = {
    "attribute_saved": "factroots.attribution.attribute",
    "NeuronRows": "factroots.attribution.attribute",
    "read_neurons": "factroots.attribution.attribute",
    "probe_and_attribute": "factroots.attribution.capture",
    "ProbeRun": "factroots.attribution.capture",
    "language_similarity": "factroots.attribution.similarity",
    "SimilarityRun": "factroots.attribution.similarity",
    "Similarity": "factroots.attribution.similarity",
    "similarity_matrix": "factroots.attribution.similarity",
    "neuron_table": "factroots.attribution.similarity",
    "jaccard_sets": "factroots.attribution.jaccard",
}

__all__ = list(_EXPORTS)

__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)
