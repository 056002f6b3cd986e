"""A deterministic benchmark corpus in WikiExtractor format, with real mLAMA entities planted.

Background text is drawn from a Zipfian vocabulary that mixes English function words, the words
of real mLAMA labels in several scripts (Latin, Cyrillic, Greek, Arabic, Devanagari, Thai, Han,
Kana, Hangul) and synthetic words. Into it the entities of one language's mLAMA facts are planted:
each entity on about `top_share × documents / rank` documents (rank by how many facts name it,
so frequent objects such as "English" come first) plus `base_mentions` on average, and a random
`fact_share` of the facts get subject and object planted side by side about once, so that traced
facts hit, miss, and include very frequent entities. Most documents fit one 512-token line; a few
are long enough to be cut into several. Written streaming, one chunk of documents at a time.
"""

from __future__ import annotations

import functools
import html
import json
import shutil
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from factroots.mlama import Fact, load_language

STOPWORDS = (
    "the of and in to a was is for on as by with from that at his which an are it "
    "he were also be has had its this or their first after one two new not they but "
    "her she been who into more other all during most than years under between"
).split()
PRIMARY_LANGS = ("en", "de", "fr")  # Latin-script label words: most of the vocabulary
FOREIGN_LANGS = ("ru", "el", "ar", "hi", "th", "zh", "ja", "ko")  # the other scripts
FOREIGN_SHARE = 0.15  # of vocabulary ranks
CJK_PIECE = 2  # labels of languages written without spaces are cut into 2-character words
SYLLABLES = (
    "ka to ri mu sa ne lo vi de ba ro ta na mi ku se po ha le zu gi fa "
    "an el or in us et ar ul om is"
).split()
CYRILLIC = "аеиоукстнрлвмдпбгзя"
STAMP = ".corpus.json"  # hidden: the reader ignores it


@dataclass(frozen=True)
class CorpusSpec:
    """What to generate; the same spec always gives the same bytes."""

    documents: int = 2_000_000
    lang: str = "en"
    seed: int = 0
    vocab_size: int = 100_000
    zipf_s: float = 1.05
    mean_words: float = 26.0
    long_share: float = 0.01  # documents of 300–1,500 words, cut into several lines
    top_share: float = 0.02  # documents mentioning the most frequent entity
    base_mentions: float = 2.0  # mean extra mentions of every entity, at 2M documents
    fact_share: float = 0.6  # facts whose subject and object are planted together
    docs_per_file: int = 10_000


@dataclass
class CorpusStats:
    """What was written."""

    spec: dict
    documents: int
    files: int
    bytes: int
    entity_mentions: int
    fact_plantings: int
    seconds: float


@functools.lru_cache(maxsize=8)
def _label_words(mlama_dir: Path, langs: tuple[str, ...]) -> list[str]:
    words: set[str] = set()
    for lang in langs:
        if not (mlama_dir / lang).is_dir():
            continue
        for fact in load_language(mlama_dir, lang).facts:
            for label in (fact.subject, fact.object):
                for word in label.split():
                    if lang in ("zh", "ja", "th"):
                        words.update(
                            word[i : i + CJK_PIECE] for i in range(0, len(word), CJK_PIECE)
                        )
                    else:
                        words.add(word)
    return sorted(words)


def _synthetic_words(rng: np.random.Generator, n: int) -> list[str]:
    words = []
    for k in range(n):
        parts = rng.choice(len(SYLLABLES), size=2 + k % 3)
        word = "".join(SYLLABLES[p] for p in parts)
        if k % 7 == 0:
            word = "".join(CYRILLIC[ord(c) % len(CYRILLIC)] for c in word)
        words.append(word)
    return words


def vocabulary(mlama_dir: str | Path, spec: CorpusSpec) -> np.ndarray:
    """The background vocabulary in Zipf rank order: function words first, then Latin-script
    label words and synthetic words, with FOREIGN_SHARE of the ranks in other scripts."""
    rng = np.random.default_rng(spec.seed)
    primary = [w for w in _label_words(Path(mlama_dir), PRIMARY_LANGS) if w not in STOPWORDS]
    foreign = list(_label_words(Path(mlama_dir), FOREIGN_LANGS))
    rng.shuffle(primary)
    rng.shuffle(foreign)
    tail = spec.vocab_size - len(STOPWORDS)
    n_foreign = min(len(foreign), int(tail * FOREIGN_SHARE))
    latin = primary[: tail - n_foreign]
    latin += _synthetic_words(rng, tail - n_foreign - len(latin))
    slots = np.zeros(tail, dtype=bool)
    slots[rng.choice(tail, n_foreign, replace=False)] = True
    words, latin_it, foreign_it = list(STOPWORDS), iter(latin), iter(foreign[:n_foreign])
    words += [next(foreign_it) if is_foreign else next(latin_it) for is_foreign in slots]
    return np.array(words, dtype=object)


def zipf_cdf(n: int, s: float) -> np.ndarray:
    weights = 1.0 / np.arange(1, n + 1, dtype=np.float64) ** s
    return np.cumsum(weights) / weights.sum()


@dataclass(frozen=True)
class Plan:
    """Planted entities (labels, mean mentions per document) and facts (label index pairs)."""

    labels: np.ndarray
    rate: np.ndarray
    fact_subject: np.ndarray
    fact_object: np.ndarray
    fact_rate: np.ndarray


def planting_plan(facts: list[Fact], spec: CorpusSpec) -> Plan:
    """Per-document rates: Zipfian by popularity (facts naming the entity), plus a floor."""
    rng = np.random.default_rng(spec.seed + 1)
    popularity = Counter([f.object for f in facts] + [f.subject for f in facts])
    labels = sorted(popularity)
    noise = rng.random(len(labels))
    order = sorted(range(len(labels)), key=lambda i: (-popularity[labels[i]], noise[i]))
    rank = np.empty(len(labels), dtype=np.float64)
    rank[order] = np.arange(1, len(labels) + 1)
    base = spec.base_mentions / 2_000_000
    rate = spec.top_share / rank + base
    index = {label: i for i, label in enumerate(labels)}
    subj = np.array([index[f.subject] for f in facts], dtype=np.int64)
    obj = np.array([index[f.object] for f in facts], dtype=np.int64)
    fact_rate = np.where(rng.random(len(facts)) < spec.fact_share, 1.0 / 2_000_000, 0.0)
    return Plan(np.array(labels, dtype=object), rate, subj, obj, fact_rate)


def _doc_lengths(rng: np.random.Generator, n: int, spec: CorpusSpec) -> np.ndarray:
    lengths = rng.gamma(2.0, spec.mean_words / 2.0, size=n).astype(np.int64) + 3
    long = rng.random(n) < spec.long_share
    lengths[long] = rng.integers(300, 1500, size=int(long.sum()))
    return lengths


def _insertions(rng: np.random.Generator, plan: Plan, n_docs: int) -> dict[int, list[str]]:
    """For each document of a chunk, the entity texts to insert."""
    found: dict[int, list[str]] = {}
    counts = rng.poisson(plan.rate * n_docs)
    for ent in np.flatnonzero(counts):
        for doc in rng.integers(0, n_docs, size=counts[ent]).tolist():
            found.setdefault(doc, []).append(plan.labels[ent])
    pairs = rng.poisson(plan.fact_rate * n_docs)
    for fact in np.flatnonzero(pairs):
        text = f"{plan.labels[plan.fact_subject[fact]]} {plan.labels[plan.fact_object[fact]]}"
        for doc in rng.integers(0, n_docs, size=pairs[fact]).tolist():
            found.setdefault(doc, []).append(text)
    return found


def _document(
    doc_id: int,
    words: list[str],
    inserts: list[str],
    rng: np.random.Generator,
    para_words: int = 60,
) -> str:
    for text in inserts:
        words.insert(int(rng.integers(0, len(words) + 1)), text)
    title = words[0].capitalize()
    body = "\n".join(
        " ".join(words[i : i + para_words]) + " ." for i in range(1, len(words), para_words)
    )
    return (
        f'<doc id="{doc_id}" url="https://bench.invalid/?curid={doc_id}" title="{title}">\n'
        f"{title}\n\n{body}\n</doc>\n"
    )


def _chunk_text(
    first_doc: int,
    n_docs: int,
    vocab: np.ndarray,
    cdf: np.ndarray,
    plan: Plan,
    spec: CorpusSpec,
    rng: np.random.Generator,
) -> tuple[str, int]:
    lengths = _doc_lengths(rng, n_docs, spec)
    ids = np.searchsorted(cdf, rng.random(int(lengths.sum())))
    words = vocab[np.minimum(ids, len(vocab) - 1)].tolist()
    inserts = _insertions(rng, plan, n_docs)
    bounds = np.concatenate([[0], np.cumsum(lengths)]).tolist()
    docs = [
        _document(first_doc + k, words[bounds[k] : bounds[k + 1]], inserts.get(k, []), rng)
        for k in range(n_docs)
    ]
    mentions = sum(len(v) for v in inserts.values())
    return "".join(docs), mentions


def _file_path(out_dir: Path, number: int) -> Path:
    sub = f"{chr(65 + number // 2600 % 26)}{chr(65 + number // 100 % 26)}"
    return out_dir / sub / f"wiki_{number % 100:02d}"


def _chunks(spec: CorpusSpec) -> Iterator[tuple[int, int, int]]:
    """(file number, first document, documents) for each file."""
    for number, first in enumerate(range(0, spec.documents, spec.docs_per_file)):
        yield number, first, min(spec.docs_per_file, spec.documents - first)


def _fresh_dir(out_dir: Path) -> Path:
    """`out_dir`, emptied if it holds an earlier generated corpus; refuses any other content."""
    if (out_dir / STAMP).is_file():
        shutil.rmtree(out_dir)
    elif out_dir.is_dir() and any(out_dir.iterdir()):
        raise FileExistsError(f"{out_dir} is not empty and holds no generated corpus")
    out_dir.mkdir(parents=True, exist_ok=True)
    return out_dir


def generate_corpus(
    out_dir: str | Path, mlama_dir: str | Path, spec: CorpusSpec | None = None
) -> CorpusStats:
    """Write the corpus under `out_dir` (WikiExtractor `AA/wiki_00` layout) and a stamp."""
    started = time.perf_counter()
    spec = spec or CorpusSpec()
    out_dir = _fresh_dir(Path(out_dir))
    vocab = vocabulary(mlama_dir, spec)
    cdf = zipf_cdf(len(vocab), spec.zipf_s)
    plan = planting_plan(load_language(mlama_dir, spec.lang).facts, spec)
    total_bytes = mentions = files = 0
    for number, first, n_docs in _chunks(spec):
        rng = np.random.default_rng([spec.seed, number])
        text, planted = _chunk_text(first, n_docs, vocab, cdf, plan, spec, rng)
        path = _file_path(out_dir, number)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = text.encode("utf-8")
        path.write_bytes(data)
        total_bytes += len(data)
        mentions += planted
        files += 1
    stats = CorpusStats(
        asdict(spec),
        spec.documents,
        files,
        total_bytes,
        mentions,
        int((plan.fact_rate > 0).sum()),
        round(time.perf_counter() - started, 2),
    )
    (out_dir / STAMP).write_text(json.dumps(asdict(stats), indent=2))
    return stats


def ensure_corpus(
    out_dir: str | Path, mlama_dir: str | Path, spec: CorpusSpec | None = None
) -> CorpusStats:
    """The corpus under `out_dir`, generated only if no corpus of the same spec is there."""
    spec = spec or CorpusSpec()
    return _stamped(out_dir, spec) or generate_corpus(out_dir, mlama_dir, spec)


def _stamped(out_dir: str | Path, spec) -> CorpusStats | None:
    """The stats of the corpus already under `out_dir` when it was generated from `spec`."""
    stamp = Path(out_dir) / STAMP
    if stamp.is_file():
        stats = CorpusStats(**json.loads(stamp.read_text()))
        if stats.spec == asdict(spec):
            return stats
    return None


# -- the realistic corpus: real Wikipedia text at real density ------------------------------------

KEEP_PARAGRAPH = 0.8  # each paragraph of a source article survives in a copy with this chance


@dataclass(frozen=True)
class RealisticSpec:
    """Real articles of the shared WikiExtractor sample of `lang`, copied again and again, each
    copy keeping a random 80 % of its paragraphs in order: lines are as long and as dense in
    mLAMA labels as the real ones (topics stay together), yet no two copies pack into the same
    lines. `documents` copies are written, `docs_per_file` per file."""

    documents: int = 100_000
    lang: str = "en"
    seed: int = 0
    docs_per_file: int = 1_000
    kind: str = "realistic"


def _source_articles(sample_dir: Path) -> list[tuple[str, list[str]]]:
    """(title, paragraphs) of every article of the real sample; the title line is left out."""
    from factroots.indexer.reader import CorpusReader

    articles = []
    for doc in CorpusReader(sample_dir):
        paragraphs = [p for p in doc.text.split("\n") if p.strip()]
        if paragraphs and paragraphs[0] == doc.title:
            paragraphs = paragraphs[1:]
        if paragraphs:
            articles.append((doc.title, paragraphs))
    if not articles:
        raise ValueError(f"no articles with text in {sample_dir}")
    return articles


def _copy(doc_id: int, article: tuple[str, list[str]], rng: np.random.Generator) -> str:
    title, paragraphs = article
    keep = rng.random(len(paragraphs)) < KEEP_PARAGRAPH
    keep[rng.integers(len(paragraphs))] = True
    body = "\n".join(p for p, k in zip(paragraphs, keep, strict=True) if k)
    title = html.escape(title, quote=True)
    return (
        f'<doc id="{doc_id}" url="https://bench.invalid/?curid={doc_id}" title="{title}">\n'
        f"{title}\n{html.escape(body, quote=False)}\n</doc>\n"
    )


def generate_realistic_corpus(
    out_dir: str | Path, sample_dir: str | Path, spec: RealisticSpec
) -> CorpusStats:
    """Write the realistic corpus under `out_dir` (WikiExtractor layout) and a stamp."""
    started = time.perf_counter()
    out_dir = _fresh_dir(Path(out_dir))
    articles = _source_articles(Path(sample_dir))
    total_bytes = files = 0
    for number, first, n_docs in _chunks(spec):
        rng = np.random.default_rng([spec.seed, number])
        picks = rng.integers(len(articles), size=n_docs)
        text = "".join(_copy(first + k, articles[a], rng) for k, a in enumerate(picks.tolist()))
        path = _file_path(out_dir, number)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = text.encode("utf-8")
        path.write_bytes(data)
        total_bytes += len(data)
        files += 1
    stats = CorpusStats(
        asdict(spec),
        spec.documents,
        files,
        total_bytes,
        0,
        0,
        round(time.perf_counter() - started, 2),
    )
    (out_dir / STAMP).write_text(json.dumps(asdict(stats), indent=2))
    return stats


def ensure_realistic_corpus(
    out_dir: str | Path, sample_dir: str | Path, spec: RealisticSpec
) -> CorpusStats:
    """The realistic corpus under `out_dir`, generated only if none of the same spec is there."""
    return _stamped(out_dir, spec) or generate_realistic_corpus(out_dir, sample_dir, spec)


@dataclass(frozen=True)
class Density:
    """How long and how dense in mLAMA labels an index's lines are (issue 11's definitions)."""

    lines: int
    tokens_per_line: float
    entity_lines_per_line: dict[str, float]  # Σ over distinct labels of their lines ÷ lines


def corpus_density(index, facts: list[Fact]) -> Density:
    """The density of an opened FactIndex for the labels of `facts`, both modes."""
    labels = sorted({f.subject for f in facts} | {f.object for f in facts})
    lines = index.num_lines
    per_mode = {
        mode: float(index.count_many(labels, mode).lines.sum()) / lines
        for mode in ("words", "tokens")
    }
    return Density(lines, index.manifest.counts.tokens / lines, per_mode)
