"""The tantivy schema shared by the builder and the searcher."""

from __future__ import annotations

import tantivy

WS_ANALYZER = "ws"
LINE, WORDS, TOKENS, TEXT, DOC_ID, TITLE = "line", "w", "t", "text", "doc", "title"


def build_schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_unsigned_field(LINE, stored=True, indexed=True, fast=True)
    builder.add_text_field(WORDS, stored=False, tokenizer_name=WS_ANALYZER, index_option="position")
    builder.add_text_field(
        TOKENS, stored=False, tokenizer_name=WS_ANALYZER, index_option="position"
    )
    builder.add_bytes_field(TEXT, stored=True, indexed=False, fast=False)
    builder.add_bytes_field(DOC_ID, stored=True, indexed=False, fast=False)
    builder.add_bytes_field(TITLE, stored=True, indexed=False, fast=False)
    return builder.build()


def register_analyzers(index: tantivy.Index) -> None:
    """Pre-tokenized fields: terms are separated by whitespace, kept exactly (case included)."""
    index.register_tokenizer(
        WS_ANALYZER, tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.whitespace()).build()
    )


def token_terms(ids) -> str:
    """The `t` field's text: token ids as whitespace-separated decimal terms."""
    return " ".join(map(str, ids))
