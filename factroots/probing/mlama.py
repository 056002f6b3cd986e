"""Deprecated: mLAMA is read by `factroots.mlama` (a data set, not probing); this path stays
one release and warns."""

import warnings

from factroots.mlama import (  # noqa: F401
    FACT_KEYS,
    TEMPLATES_FILE,
    Fact,
    MlamaLanguage,
    SkippedRecord,
    available_languages,
    load_language,
    read_facts,
    read_templates,
)

__all__ = [
    "Fact",
    "MlamaLanguage",
    "SkippedRecord",
    "available_languages",
    "load_language",
    "read_templates",
]

warnings.warn(
    "factroots.probing.mlama is deprecated: import from factroots.mlama",
    DeprecationWarning,
    stacklevel=2,
)
