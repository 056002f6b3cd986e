"""Imported once by the forkserver that forks the build's worker processes (see
`factroots.indexer.shards.worker_context`): the build's modules, and numba's compiler set up by
one call (setting it up imports its registries, scipy.linalg among them: 0.6 s that every
forked worker would otherwise spend again)."""

import numpy as np

import factroots.indexer.builder
import factroots.indexer.dump  # noqa: F401 - imported for the workers
from factroots.indexer.segmenter import line_starts

line_starts(np.zeros(1, dtype=np.int64), 1)
