"""Why is a fact predicted although it never occurs in the corpus? (DESIGN.md, "Analyses").

Each absent-yet-predicted fact gets the first matching type:

1. shared entity tokens: after normalizing both labels (NFKC, lowercase, and for Chinese
   traditional → simplified with OpenCC), the object is a substring of the subject, or the two
   share a model subword of at least 2 characters (``##`` / ``▁`` stripped) that is not only
   digits or punctuation;
2. naming cues: the relation is in `naming_relations` (default `DEFAULT_NAMING_RELATIONS`);
3. others.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Collection
from functools import lru_cache
from typing import TYPE_CHECKING

from factroots.defaults import DEFAULT_NAMING_RELATIONS
from factroots.tokenizer import WORD_BOUNDARY_PIECE, ModelTokenizer

if TYPE_CHECKING:  # pandas is imported where used, so the CLI can read the defaults cheaply
    import pandas as pd

SHARED_TOKENS = "shared entity tokens"
NAMING_CUES = "naming cues"
OTHERS = "others"
TYPES = (SHARED_TOKENS, NAMING_CUES, OTHERS)

# The authors' own grouping (DESIGN.md, "Analyses"): every naming-cue example they published has
# one of these relations: country (P17), citizenship (P27), native language (P103), religion
# (P140), languages spoken (P1412). Their "others" examples include place of birth/death
# (P19/P20), official language (P37) and language of a work (P364/P407), so those are not
# naming cues here. Override with Classifier(naming_relations=...) or `report --naming-relations`.
CONTINUATION_MARKS = ("##", WORD_BOUNDARY_PIECE)
MIN_SUBWORD_CHARS = 2


@lru_cache(maxsize=1)
def _t2s():
    import opencc

    return opencc.OpenCC("t2s")


def is_chinese(lang: str) -> bool:
    """Whether a language code names Chinese (zh, zh-Hant, zh_TW, …)."""
    return lang.lower() == "zh" or lang.lower().startswith(("zh-", "zh_"))


def normalize_label(text: str, lang: str) -> str:
    """NFKC, lowercase, and traditional → simplified Chinese for Chinese languages."""
    text = unicodedata.normalize("NFKC", text).lower()
    return _t2s().convert(text) if is_chinese(lang) else text


def strip_continuation(piece: str) -> str:
    """A subword without its leading continuation or word-boundary mark."""
    for mark in CONTINUATION_MARKS:
        if piece.startswith(mark):
            return piece[len(mark) :]
    return piece


def is_only_digits_or_punctuation(text: str) -> bool:
    """True when every character is a number (category N*) or punctuation (category P*)."""
    return all(unicodedata.category(ch)[0] in "NP" for ch in text)


def counting_subwords(text: str, tokenizer: ModelTokenizer) -> frozenset[str]:
    """The model subwords of `text` that can make two labels share a token: marks stripped, at
    least 2 characters, not only digits or punctuation; unknown and special tokens excluded."""
    encoding = tokenizer.tokenizer.encode(text, add_special_tokens=False)
    pieces = set()
    for token_id, piece, special in zip(
        encoding.ids, encoding.tokens, encoding.special_tokens_mask, strict=True
    ):
        if special or token_id == tokenizer.unk_id:
            continue
        piece = strip_continuation(piece)
        if len(piece) >= MIN_SUBWORD_CHARS and not is_only_digits_or_punctuation(piece):
            pieces.add(piece)
    return frozenset(pieces)


class Classifier:
    """Classifies facts by the rules above, caching normalized labels and their subwords."""

    def __init__(
        self,
        tokenizer: ModelTokenizer,
        naming_relations: Collection[str] = DEFAULT_NAMING_RELATIONS,
    ) -> None:
        self.tokenizer = tokenizer
        self.naming_relations = frozenset(naming_relations)
        self._subwords: dict[str, frozenset[str]] = {}

    def subwords(self, normalized: str) -> frozenset[str]:
        if normalized not in self._subwords:
            self._subwords[normalized] = counting_subwords(normalized, self.tokenizer)
        return self._subwords[normalized]

    def shares_entity_tokens(self, subject: str, obj: str, lang: str) -> bool:
        """Rule 1: object within subject, or a shared counting subword, after normalization."""
        s, o = normalize_label(subject, lang), normalize_label(obj, lang)
        if o and o in s:
            return True
        return bool(self.subwords(s) & self.subwords(o))

    def classify(self, subject: str, obj: str, relation: str, lang: str) -> str:
        """The first matching type: shared entity tokens, naming cues, others."""
        if self.shares_entity_tokens(subject, obj, lang):
            return SHARED_TOKENS
        if relation in self.naming_relations:
            return NAMING_CUES
        return OTHERS


def absent_yet_predicted(joined: pd.DataFrame) -> pd.DataFrame:
    """Rows of traced predictions (statistics.traced_predictions) that are correct but absent."""
    return joined[joined["correct"] & ~joined["present"]].reset_index(drop=True)


def classify_facts(facts: pd.DataFrame, classifier: Classifier) -> pd.DataFrame:
    """`facts` with a `type` column (one of TYPES)."""
    import pandas as pd

    types = [
        classifier.classify(s, o, r, lang)
        for s, o, r, lang in zip(
            facts["subject"], facts["object"], facts["relation"], facts["lang"], strict=True
        )
    ]
    return facts.assign(type=pd.Series(types, index=facts.index, dtype=object))


def type_counts(classified: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Per `keys` group: the number of facts of each type, one column per type, zeros included."""
    counts = classified.groupby(keys + ["type"]).size().unstack("type", fill_value=0)
    counts = counts.reindex(columns=list(TYPES), fill_value=0)
    counts.columns.name = None
    counts["total"] = counts[list(TYPES)].sum(axis=1)
    return counts.reset_index()
