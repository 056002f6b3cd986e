"""Masked-LM probing with mLAMA prompts: load a model, predict, P@1 statistics."""

from factroots._lazy import lazy_exports

_EXPORTS = {
    "load_masked_lm": "factroots.probing.model",
    "MaskedLM": "factroots.probing.model",
    "probe": "factroots.probing.predict",
    "ProbeResult": "factroots.probing.predict",
    "build_prompts": "factroots.probing.prompts",
    "summary": "factroots.probing.metrics",
}

__all__ = list(_EXPORTS)

__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)
