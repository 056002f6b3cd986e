"""The demo's facts written in the mLAMA 1.1 layout, so the whole pipeline can run on them."""

from __future__ import annotations

import json
from pathlib import Path

from factroots.demo.corpus import PLANTED

TEMPLATES = {
    "en": {"P1376": "[X] is the capital of [Y] .", "P131": "[X] is located in [Y] ."},
    "de": {"P1376": "[X] ist die Hauptstadt von [Y] .", "P131": "[X] liegt in [Y] ."},
    "ja": {"P1376": "[X]は[Y]の首都です。", "P131": "[X]は[Y]にあります。"},
    "zh": {"P1376": "[X]是[Y]的首都。", "P131": "[X]位于[Y]。"},
}


def write_mlama(out_dir: str | Path) -> Path:
    """Write templates and one JSON-lines file per relation for every demo language."""
    out = Path(out_dir)
    for lang, templates in TEMPLATES.items():
        (out / lang).mkdir(parents=True, exist_ok=True)
        rows = [
            json.dumps({"relation": r, "template": t}, ensure_ascii=False)
            for r, t in templates.items()
        ]
        (out / lang / "templates.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
        for relation in templates:
            facts = [f for f in PLANTED if f.lang == lang and f.relation == relation]
            lines = [
                json.dumps(
                    {
                        "uuid": f.uuid,
                        "lineid": i,
                        "sub_label": f.subject,
                        "obj_label": f.object,
                        "sub_uri": f"Q-{f.uuid}-s",
                        "obj_uri": f"Q-{f.uuid}-o",
                    },
                    ensure_ascii=False,
                )
                for i, f in enumerate(facts)
            ]
            (out / lang / f"{relation}.jsonl").write_text(
                "".join(line + "\n" for line in lines), encoding="utf-8"
            )
    return out
