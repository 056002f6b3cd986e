"""Segmentation: greedy packing of whole words into lines of at most max_tokens tokens."""

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import factroots.indexer.segmenter as segmenter_module
from factroots.indexer.reader import Document
from factroots.indexer.segmenter import Segmenter, line_starts, text_pieces
from factroots.tokenizer import load_tokenizer


def reference_lines(word_sizes: list[int], max_tokens: int) -> list[int]:
    """Line lengths in tokens, packing words greedily (DESIGN.md, appendix B)."""
    lines: list[int] = []
    current = 0
    for size in word_sizes:
        if size > max_tokens:
            if current:
                lines.append(current)
            lines += [max_tokens] * (size // max_tokens)
            if size % max_tokens:
                lines.append(size % max_tokens)
            current = 0
        elif current + size <= max_tokens:
            current += size
        else:
            lines.append(current)
            current = size
    if current:
        lines.append(current)
    return lines


def word_ids_for(sizes: list[int]) -> np.ndarray:
    return np.repeat(np.arange(len(sizes)), sizes).astype(np.int64)


def lengths_from_starts(starts: np.ndarray, total: int) -> list[int]:
    return np.diff(np.append(starts, total)).tolist()


@pytest.fixture(scope="module")
def mbert():
    return load_tokenizer("mbert")


def segment(tokenizer, text: str, max_tokens: int):
    doc = Document("1", "t", text, "")
    return Segmenter(tokenizer, max_tokens).lines([doc])[0]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.integers(1, 12), max_size=40), st.integers(1, 10))
def test_line_starts_pack_words_like_the_reference(sizes, max_tokens):
    starts = line_starts(word_ids_for(sizes), max_tokens)
    assert lengths_from_starts(starts, sum(sizes)) == reference_lines(sizes, max_tokens)


def test_a_word_that_fits_joins_the_current_line():
    assert lengths_from_starts(line_starts(word_ids_for([2, 2, 1]), 5), 5) == [5]


def test_a_word_that_does_not_fit_starts_a_new_line():
    assert lengths_from_starts(line_starts(word_ids_for([3, 3]), 5), 6) == [3, 3]


def test_an_overlong_word_is_cut_into_pieces_and_the_next_word_starts_a_new_line():
    assert lengths_from_starts(line_starts(word_ids_for([1, 7, 1]), 3), 9) == [1, 3, 3, 1, 1]


def test_lines_cover_every_token_in_order(mbert):
    text = "Berlin is the capital of Germany. 北京是中国的首都。 " * 20
    lines = segment(mbert, text, 16)
    full = mbert.tokenizer.encode(text, add_special_tokens=False).ids
    assert np.concatenate([line.ids for line in lines]).tolist() == full


def test_no_line_exceeds_max_tokens(mbert):
    lines = segment(mbert, "Anarchism is a political philosophy. " * 50, 7)
    assert max(line.ids.size for line in lines) <= 7


def test_line_text_is_the_slice_of_its_tokens(mbert):
    text = "Helsinki ist die Hauptstadt Finnlands, 東京は日本の首都です。"
    for line in segment(mbert, text, 4):
        assert mbert.tokenizer.encode(line.text, add_special_tokens=False).ids == line.ids.tolist()


def test_lines_never_end_inside_a_word_that_fits(mbert):
    text = "unbelievably incomprehensible antidisestablishmentarianism words " * 5
    encoding = mbert.tokenizer.encode(text, add_special_tokens=False)
    lines = segment(mbert, text, 8)
    boundary, word_ids = 0, encoding.word_ids
    for line in lines[:-1]:
        boundary += line.ids.size
        assert word_ids[boundary] != word_ids[boundary - 1]


def test_each_cjk_character_is_a_word_for_mbert(mbert):
    lines = segment(mbert, "北京是中国的首都", 3)
    assert [line.text for line in lines] == ["北京是", "中国的", "首都"]


def test_an_empty_document_has_no_lines(mbert):
    assert segment(mbert, "", 512) == []


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=list("ab cd,。北京ไทย\u200d-é"), max_size=60), st.integers(1, 6))
def test_segmenting_random_text_keeps_all_tokens_within_bounds(mbert, text, max_tokens):
    lines = segment(mbert, text, max_tokens)
    full = mbert.tokenizer.encode(text, add_special_tokens=False).ids
    assert sum((line.ids.tolist() for line in lines), []) == full
    assert all(0 < line.ids.size <= max_tokens for line in lines)


def lines_as_tuples(lines) -> list[tuple[str, list[int]]]:
    return [(line.text, line.ids.tolist()) for line in lines]


@pytest.mark.parametrize("tokenizer_name", ["mbert", "xlmr"])
@pytest.mark.parametrize("lang", ["en", "zh", "ja", "th", "ru"])
def test_documents_tokenized_in_pieces_give_the_lines_of_the_whole(
    tokenizer_name, lang, wiki_dir, xlmr_tokenizer_dir, monkeypatch
):
    """Cut at whitespace into pieces of at most 2,000 characters, every document of a shared
    sample is segmented exactly as when the tokenizer sees it whole."""
    from factroots.indexer.reader import CorpusReader

    tok = load_tokenizer("mbert" if tokenizer_name == "mbert" else xlmr_tokenizer_dir)
    docs = list(CorpusReader(wiki_dir / lang))[:40]
    whole = [lines_as_tuples(lines) for lines in Segmenter(tok, 128).lines(docs)]
    monkeypatch.setattr(segmenter_module, "PIECE_CHARS", 2_000)
    monkeypatch.setattr(segmenter_module, "ENCODE_CHARS", 5_000)
    pieced = Segmenter(tok, 128)
    assert [lines_as_tuples(lines) for lines in pieced.lines(docs)] == whole
    assert any(len(d.text) > 2_000 and " " in d.text for d in docs) or lang in ("zh", "ja")


@settings(max_examples=200, deadline=None)
@given(
    text=st.text(alphabet=st.sampled_from(list("ab ,.\n\t北京\u3000")), max_size=300),
    limit=st.integers(1, 40),
)
def test_text_pieces_cover_the_text_and_are_cut_before_whitespace(text, limit):
    spans, cuts = text_pieces(text, limit)
    assert "".join(text[start:end] for start, end in spans) == text
    assert all(0 < end - start <= limit for start, end in spans)
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:], strict=False))
    hard = [
        end for start, end in spans[:-1] if not text[end].isspace() or text[start:end].isspace()
    ]
    assert cuts == len(hard)


def test_a_run_without_whitespace_longer_than_a_piece_is_cut_and_counted(mbert, monkeypatch):
    monkeypatch.setattr(segmenter_module, "PIECE_CHARS", 1_000)
    segmenter = Segmenter(mbert, 512)
    lines = segmenter.lines([Document("1", "t", "x" * 2_500 + " tail", "")])[0]
    assert segmenter.hard_cuts == 2
    assert "".join(line.text for line in lines).endswith("tail")


def test_an_8_mb_word_is_segmented_in_bounded_memory(tmp_path):
    """The rise of peak RSS (VmHWM: ru_maxrss would count the test process it was forked
    from) in a child segmenting one document that is a single 8 MB word, over its peak after
    a short one: under 400 MiB (it rises about 210 MiB, for a 20 MB word too; with its pieces
    made larger than the word, so that the tokenizer sees it whole, the same run rises by
    600 MiB, and by 1.2 GiB for a 20 MB word)."""
    script = tmp_path / "segment.py"
    script.write_text(
        "from pathlib import Path\n"
        "from factroots.indexer.reader import Document\n"
        "from factroots.indexer.segmenter import Segmenter\n"
        "from factroots.tokenizer import load_tokenizer\n"
        "def peak_kib():\n"
        "    status = Path('/proc/self/status').read_text().splitlines()\n"
        "    return int(next(line.split()[1] for line in status if line.startswith('VmHWM:')))\n"
        "segmenter = Segmenter(load_tokenizer('mbert'), 512)\n"
        "segmenter.lines([Document('0', 't', 'x' * 1000, '')])\n"
        "word = 'x' * 8_000_000\n"
        "before = peak_kib()\n"
        "lines = segmenter.lines([Document('1', 't', word, '')])[0]\n"
        "assert sum(len(line.text) for line in lines) == 8_000_000\n"
        "print(segmenter.hard_cuts, peak_kib() - before)\n"
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True)
    cuts, rise_kib = map(int, done.stdout.split())
    assert cuts == 7
    assert rise_kib < 400 * 1024
