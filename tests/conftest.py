"""Shared fixtures: the ../shared data beside the checkout; skipped (failed under CI) if absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
IN_CI = os.environ.get("CI", "").lower() == "true"


def require_shared(*parts: str) -> Path:
    """Path under ../shared; skip the test with a reason if absent, fail under CI=true."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        message = f"shared data not found: {path}"
        if IN_CI:
            pytest.fail(message + " (CI=true requires it)")
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def mlama_dir() -> Path:
    return require_shared("data", "mlama1.1")


@pytest.fixture(scope="session")
def wiki_dir() -> Path:
    return require_shared("data", "wikiextractor")


@pytest.fixture(scope="session")
def xlmr_tokenizer_dir() -> Path:
    return require_shared("tokenizers", "xlmr")


@pytest.fixture(scope="session")
def mbert_tokenizer_dir() -> Path:
    return require_shared("tokenizers", "mbert")
