"""Write the lines of a factroots index as a pyserini/Anserini JsonCollection.

One JSON object per line of the index, in line order, split over several `.jsonl` files (Anserini
indexes one file per thread):

    {"id": "<line id>", "contents": "<token ids as decimal terms>", "words": "<word units>"}

Both text fields are space-joined, ready for `python -m pyserini.index.lucene --collection
JsonCollection --pretokenized --storePositions --fields words`: `--pretokenized` splits on
whitespace only, so each term is one token id (`contents`) or one word unit (`words`), exactly the
terms of the index's `t` and `w` fields.

The index stores each line's text but not its token ids, so the lines are replayed from the
sources recorded in the manifest (same files by sha256, same tokenizer by sha256, same
`max_tokens`), and each replayed line's text is checked against the text the index stored for
that line id: what is written is the index's very lines, or the export stops with an error.
Memory is bounded by one tokenizer batch and one page of stored documents.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from factroots.defaults import DEFAULT_TOKENIZER
from factroots.errors import FactrootsError
from factroots.indexer.builder import BATCH_CHARS, document_batches
from factroots.indexer.manifest import Manifest
from factroots.indexer.reader import CorpusReader, file_sha256, input_files
from factroots.indexer.schema import token_terms
from factroots.indexer.segmenter import Line, Segmenter
from factroots.search.index import FactIndex
from factroots.tokenizer import TokenizerSpec
from factroots.units import index_units

LINES_PER_FILE = 250_000


@dataclass(frozen=True)
class ExportSummary:
    """What an export wrote."""

    out_dir: Path
    lines: int
    files: int


def lucene_record(line_id: int, line: Line) -> dict[str, str]:
    """The JsonCollection record of one line."""
    return {
        "id": str(line_id),
        "contents": token_terms(line.ids.tolist()),
        "words": " ".join(index_units(line.text)[0]),
    }


def _check_sources(manifest: Manifest, input_dir: Path) -> None:
    files = input_files(input_dir)
    found = [
        (p.relative_to(input_dir).as_posix() if p != input_dir else p.name, p.stat().st_size)
        for p in files
    ]
    expected = [(s["path"], s["size"]) for s in manifest.sources]
    if found != expected:
        raise FactrootsError(
            f"the files under {input_dir} are not the ones this index was "
            "built from (paths or sizes differ); pass --input"
        )
    for path, source in zip(files, manifest.sources, strict=True):
        if file_sha256(path) != source["sha256"]:
            raise FactrootsError(f"{path} changed since the index was built (sha256 differs)")


def replayed_lines(index: FactIndex, input_dir: Path) -> Iterator[Line]:
    """The index's lines in line-id order, re-segmented from its (checked) sources."""
    _check_sources(index.manifest, input_dir)
    segmenter = Segmenter(index.tokenizer, index.manifest.max_tokens)
    for batch in document_batches(CorpusReader(input_dir), BATCH_CHARS):
        for lines in segmenter.lines(batch):
            yield from lines


def verified_lines(index: FactIndex, input_dir: Path) -> Iterator[tuple[int, Line]]:
    """(line id, line) pairs whose replayed text equals the index's stored text."""
    stored = index.stored_texts()
    for expected_id, line in enumerate(replayed_lines(index, input_dir)):
        line_id, text = next(stored, (None, None))
        if line_id != expected_id or text != line.text:
            raise FactrootsError(
                f"line {expected_id} replayed from the sources differs from "
                "the index's stored line; rebuild the index"
            )
        yield line_id, line
    if next(stored, None) is not None:
        raise FactrootsError("the index has more lines than its sources give; rebuild it")


def export_lucene(
    root: str | Path,
    lang: str,
    out_dir: str | Path,
    tokenizer: TokenizerSpec = DEFAULT_TOKENIZER,
    input_dir: str | Path | None = None,
    lines_per_file: int = LINES_PER_FILE,
) -> ExportSummary:
    """Write `ROOT/<tokenizer>/<lang>/`'s lines as a JsonCollection under `out_dir`."""
    index = FactIndex.open(root, lang, tokenizer)
    source = Path(input_dir or index.manifest.input_root)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stale = sorted(out.glob("docs*.jsonl"))
    if stale:
        raise FactrootsError(f"{out} already holds {len(stale)} docs*.jsonl file(s)")
    lines, files = 0, 0
    fh: TextIO | None = None
    try:
        for line_id, line in verified_lines(index, source):
            if line_id % lines_per_file == 0:
                if fh:
                    fh.close()
                fh = open(out / f"docs{files:05d}.jsonl", "w", encoding="utf-8")
                files += 1
            assert fh is not None  # line 0 opened the first file
            fh.write(json.dumps(lucene_record(line_id, line), ensure_ascii=False) + "\n")
            lines += 1
    finally:
        if fh:
            fh.close()
    return ExportSummary(out, lines, files)
