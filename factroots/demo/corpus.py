"""Generate small multilingual WikiExtractor-format corpora with planted facts.

Deterministic for a seed. Filler text is drawn from a small per-language vocabulary; each planted
fact puts its subject and object into one sentence of some document, and each decoy puts them in
different documents, so that presence is known by construction.
"""

from __future__ import annotations

import bz2
import html
import json
import random
from dataclasses import dataclass
from pathlib import Path

FILLER = {
    "en": "the of and in was is a city river known history people large built north century "
    "old new first during early famous region".split(),
    "de": "die der und in war ist eine Stadt Fluss bekannt Geschichte Menschen groß gebaut "
    "Norden Jahrhundert alt neu erste".split(),
    "ja": "の は に を た が で て と し れ さ ある いる 都市 歴史 人々 川 大きな 北 世紀".split(),
    "zh": "的 是 在 了 和 有 城市 历史 人们 河流 北方 世纪 著名 地区 古老 新 第一".split(),
}
SEPARATOR = {"en": " ", "de": " ", "ja": "", "zh": ""}


@dataclass(frozen=True)
class PlantedFact:
    """A fact put into the corpus (present) or split across documents (absent)."""

    lang: str
    relation: str
    uuid: str
    subject: str
    object: str
    present: bool


PLANTED = [
    PlantedFact("en", "P1376", "demo-paris", "Paris", "France", True),
    PlantedFact("en", "P1376", "demo-berlin", "Berlin", "Germany", True),
    PlantedFact("en", "P1376", "demo-tokyo", "Tokyo", "Japan", False),
    PlantedFact("en", "P131", "demo-newyork", "New York", "United States", True),
    PlantedFact("de", "P1376", "demo-berlin", "Berlin", "Deutschland", True),
    PlantedFact("de", "P1376", "demo-paris", "Paris", "Frankreich", False),
    PlantedFact("ja", "P1376", "demo-tokyo", "東京", "日本", True),
    PlantedFact("ja", "P1376", "demo-paris", "パリ", "フランス", False),
    PlantedFact("zh", "P1376", "demo-beijing", "北京", "中国", True),
    PlantedFact("zh", "P1376", "demo-paris", "巴黎", "法国", False),
]


def _sentence(rng: random.Random, lang: str, words: list[str]) -> str:
    filler = [rng.choice(FILLER[lang]) for _ in range(rng.randint(6, 14))]
    for word in words:
        filler.insert(rng.randint(0, len(filler)), word)
    end = "。" if SEPARATOR[lang] == "" else " ."
    return SEPARATOR[lang].join(filler) + end


def _paragraph(rng: random.Random, lang: str, planted: list[list[str]]) -> str:
    sentences = [_sentence(rng, lang, []) for _ in range(rng.randint(2, 5))]
    for words in planted:
        sentences.insert(rng.randint(0, len(sentences)), _sentence(rng, lang, words))
    return SEPARATOR[lang].join(sentences) if SEPARATOR[lang] == "" else " ".join(sentences)


def _documents(rng: random.Random, lang: str, n_docs: int) -> list[tuple[str, list[str]]]:
    """(title, paragraphs) per document, with the language's planted facts inside."""
    docs = [
        (f"{lang.upper()} article {i}", [_paragraph(rng, lang, []) for _ in range(3)])
        for i in range(n_docs)
    ]
    for fact in (f for f in PLANTED if f.lang == lang):
        if fact.present:
            title, paras = docs[rng.randrange(n_docs)]
            paras.append(_paragraph(rng, lang, [[fact.subject, fact.object]]))
        else:  # both entities occur, never in the same document
            a, b = rng.sample(range(n_docs), 2)
            docs[a][1].append(_paragraph(rng, lang, [[fact.subject]]))
            docs[b][1].append(_paragraph(rng, lang, [[fact.object]]))
    return docs


def _doc_block(doc_id: int, title: str, paragraphs: list[str]) -> str:
    body = "\n".join(html.escape(p, quote=False) for p in paragraphs)
    url = f"https://example.org/wiki?curid={doc_id}"
    return (
        f'<doc id="{doc_id}" url="{url}" title="{html.escape(title)}">\n'
        f"{html.escape(title, quote=False)}\n\n{body}\n</doc>\n"
    )


def write_corpus(out_dir: str | Path, lang: str, n_docs: int = 40, seed: int = 0) -> Path:
    """Write one language's corpus as WikiExtractor output (plain, bz2 and --json files)."""
    rng = random.Random(f"{seed}-{lang}")
    out = Path(out_dir) / lang
    (out / "AA").mkdir(parents=True, exist_ok=True)
    docs = _documents(rng, lang, n_docs)
    third = max(1, n_docs // 3)
    plain = "".join(_doc_block(i, t, p) for i, (t, p) in enumerate(docs[:third]))
    (out / "AA" / "wiki_00").write_text(plain, encoding="utf-8")
    packed = "".join(_doc_block(i, t, p) for i, (t, p) in enumerate(docs[third : 2 * third], third))
    (out / "AA" / "wiki_01.bz2").write_bytes(bz2.compress(packed.encode("utf-8")))
    records = [
        json.dumps({"id": str(i), "url": "", "title": t, "text": "\n".join(p)}, ensure_ascii=False)
        for i, (t, p) in enumerate(docs[2 * third :], 2 * third)
    ]
    (out / "AA" / "wiki_02").write_text("\n".join(records) + "\n", encoding="utf-8")
    return out


def demo_languages() -> list[str]:
    return sorted(FILLER)
