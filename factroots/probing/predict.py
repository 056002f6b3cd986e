"""Masked-LM prediction over mLAMA prompts: one forward pass per prompt, LM head at masks only.

Prompts of a language are sorted by length and cut into batches padded to the batch's longest
prompt; the encoder runs once per batch, the LM head only on the mask positions' hidden states.
The prediction at each mask is its argmax, independently; a fact is correct iff all k predicted
ids equal the object's ids. A run writes each finished language to `<out>.parts/<lang>.parquet`
(temp file + rename) and skips languages whose part exists, so a stopped run resumes where it
stopped; the final parquet is assembled from the parts at the end. Within a language, the
predictions of finished batches are checkpointed every CHECKPOINT_PROMPTS prompts or
CHECKPOINT_SECONDS (`<out>.parts/<lang>.batch-<size>/`), and a resumed language computes only
the batches no checkpoint holds (batches are cut the same way for the same batch size). A run
that captures activations (`on_batch`) needs every batch's forward pass, so an interrupted
language of such a run starts again from its first batch.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from factroots.atomic import atomic_output, write_text
from factroots.defaults import DEFAULT_BATCH_SIZE
from factroots.errors import FactrootsError
from factroots.mlama import load_language
from factroots.probing.causal import RANKED_CODEC, CausalLM, probe_causal_language
from factroots.probing.checkpoints import Checkpoints, Codec, flushed
from factroots.probing.model import MaskedLM
from factroots.probing.prompts import EncodedPrompt, build_prompts
from factroots.tables import PREDICTIONS, is_correct

TOP = 5
SCHEMA = PREDICTIONS.schema


@dataclass
class PromptBatch:
    """One padded batch as the model sees it.

    `prompts[i]` is row i of `input_ids`; `mask_positions[i]` are that row's k mask columns.
    `mask_rows` / `mask_cols` (1-D long tensors, on the model's device) list every mask of the
    batch, row-major: hidden states at the masks are `hidden[mask_rows, mask_cols]`.
    """

    prompts: list[EncodedPrompt]
    input_ids: object  # torch.Tensor (batch, length)
    attention_mask: object  # torch.Tensor (batch, length)
    mask_rows: object  # torch.Tensor (masks,)
    mask_cols: object  # torch.Tensor (masks,)

    @property
    def facts(self) -> list:
        return [p.prompt.fact for p in self.prompts]

    @property
    def mask_positions(self) -> list[tuple[int, ...]]:
        return [p.mask_positions for p in self.prompts]

    def correct(self, predictions: Sequence[Prediction]) -> list[bool]:
        """Whether each prompt's predictions are its object's ids (`is_correct`)."""
        return [
            is_correct(found.predicted_ids, p.prompt.object_ids)
            for p, found in zip(self.prompts, predictions, strict=True)
        ]


@dataclass(frozen=True)
class Prediction:
    predicted_ids: tuple[int, ...]
    top_ids: tuple[tuple[int, ...], ...]


#: A Prediction as a checkpoint row.
PREDICTION_CODEC: Codec[Prediction] = Codec(
    pa.schema(
        [("predicted_ids", pa.list_(pa.int64())), ("top_ids", pa.list_(pa.list_(pa.int64())))]
    ),
    lambda p: {"predicted_ids": list(p.predicted_ids), "top_ids": [list(t) for t in p.top_ids]},
    lambda row: Prediction(tuple(row["predicted_ids"]), tuple(map(tuple, row["top_ids"]))),
)


#: Called after each batch's forward pass, inside `torch.inference_mode()`, with the batch and
#: its predictions (same order as `batch.prompts`). Forward hooks registered on the model before
#: `predict_prompts` / `probe` (e.g. `capture_ffn_activations`) have fired for this batch when it
#: is called, so activations can be read at `batch.mask_positions` from the same forward pass.
OnBatch = Callable[[PromptBatch, list[Prediction]], None]


@dataclass
class ProbeResult:
    out: Path
    summary_path: Path
    predictions: pd.DataFrame
    summary: pd.DataFrame
    computed: list[str] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)
    skipped: dict[str, dict[str, int]] = field(default_factory=dict)


def length_batches(prompts: Sequence[EncodedPrompt], batch_size: int) -> list[list[int]]:
    """Prompt indices grouped into batches of similar length (longest first, stable)."""
    order = sorted(range(len(prompts)), key=lambda i: (-len(prompts[i].input_ids), i))
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def make_batch(prompts: list[EncodedPrompt], pad_id: int, device: str) -> PromptBatch:
    """Right-padded tensors for `prompts`, with the flat (row, column) list of their masks."""
    import numpy as np
    import torch

    lengths = np.array([len(p.input_ids) for p in prompts])
    ids = np.full((len(prompts), int(lengths.max())), pad_id, dtype=np.int64)
    for row, p in enumerate(prompts):
        ids[row, : lengths[row]] = p.input_ids
    attention = (np.arange(ids.shape[1])[None, :] < lengths[:, None]).astype(np.int64)
    rows = [row for row, p in enumerate(prompts) for _ in p.mask_positions]
    cols = [col for p in prompts for col in p.mask_positions]
    return PromptBatch(
        prompts,
        torch.from_numpy(ids).to(device),
        torch.from_numpy(attention).to(device),
        torch.tensor(rows, dtype=torch.long, device=device),
        torch.tensor(cols, dtype=torch.long, device=device),
    )


def lm_head(model):
    """The module mapping hidden states to vocabulary logits, or None if it is not one module."""
    heads = [m for _, m in model.named_children() if m is not model.base_model]
    return heads[0] if len(heads) == 1 else None


def mask_logits(model, batch: PromptBatch):
    """Vocabulary logits at every mask of the batch (masks × vocab), LM head at masks only."""
    head = lm_head(model)
    if head is None:
        logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
        return logits[batch.mask_rows, batch.mask_cols]
    hidden = model.base_model(
        input_ids=batch.input_ids, attention_mask=batch.attention_mask
    ).last_hidden_state
    return head(hidden[batch.mask_rows, batch.mask_cols])


def batch_predictions(batch: PromptBatch, logits) -> list[Prediction]:
    """Argmax and top-5 ids per mask, regrouped per prompt."""
    import torch

    predicted = logits.argmax(dim=-1).tolist()
    top = torch.topk(logits, min(TOP, logits.shape[-1]), dim=-1).indices.tolist()
    result, start = [], 0
    for p in batch.prompts:
        end = start + len(p.mask_positions)
        result.append(Prediction(tuple(predicted[start:end]), tuple(map(tuple, top[start:end]))))
        start = end
    return result


def pad_id(lm: MaskedLM) -> int:
    pad = getattr(lm.model.config, "pad_token_id", None)
    return int(pad) if pad is not None else 0


def predict_prompts(
    lm: MaskedLM,
    prompts: Sequence[EncodedPrompt],
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_batch: OnBatch | None = None,
    on_progress: Callable[[int], None] | None = None,
    checkpoints: Checkpoints[Prediction] | None = None,
) -> list[Prediction]:
    """Predictions for `prompts`, in their order; `on_progress(n)` after each batch of n
    (batches a checkpoint already holds count as done without a forward pass)."""
    import torch

    saved = checkpoints.saved() if checkpoints is not None else {}
    predictions: list[Prediction | None] = [saved.get(i) for i in range(len(prompts))]
    with torch.inference_mode(), flushed(checkpoints):
        for indices in length_batches(prompts, batch_size):
            if all(predictions[i] is not None for i in indices):
                if on_progress is not None:
                    on_progress(len(indices))
                continue
            batch = make_batch([prompts[i] for i in indices], pad_id(lm), lm.device)
            found = batch_predictions(batch, mask_logits(lm.model, batch))
            if on_batch is not None:
                on_batch(batch, found)
            for i, prediction in zip(indices, found, strict=True):
                predictions[i] = prediction
            if checkpoints is not None:
                checkpoints.add(indices, found)
            if on_progress is not None:
                on_progress(len(indices))
    return cast(list[Prediction], predictions)  # every prompt is in one batch


def prediction_table(
    lm: MaskedLM, prompts: Sequence[EncodedPrompt], predictions: Sequence[Prediction]
) -> pa.Table:
    """One row per fact, columns as SCHEMA."""
    texts = lm.tokenizer.tokenizer.decode_batch(
        [list(p.predicted_ids) for p in predictions], skip_special_tokens=False
    )
    facts = [p.prompt.fact for p in prompts]
    columns = {
        "model": [lm.name] * len(prompts),
        "lang": [f.lang for f in facts],
        "relation": [f.relation for f in facts],
        "uuid": [f.uuid for f in facts],
        "subject": [f.subject for f in facts],
        "object": [f.object for f in facts],
        "obj_uri": [f.obj_uri for f in facts],
        "k": [p.prompt.k for p in prompts],
        "object_ids": [list(p.prompt.object_ids) for p in prompts],
        "predicted_ids": [list(x.predicted_ids) for x in predictions],
        "top5_ids": [[list(t) for t in x.top_ids] for x in predictions],
        "prediction": [t.strip() for t in texts],
        "correct": [
            is_correct(x.predicted_ids, p.prompt.object_ids)
            for p, x in zip(prompts, predictions, strict=True)
        ],
        "objective": ["masked"] * len(prompts),
    }
    columns |= {c: [None] * len(prompts) for c in PREDICTIONS.optional if c not in columns}
    return pa.table(columns, schema=SCHEMA)


def write_parquet_atomic(table: pa.Table, path: Path) -> None:
    with atomic_output(path) as tmp:
        pq.write_table(table, tmp)


def parts_dir(out: Path) -> Path:
    return out.with_name(out.name + ".parts")


def summary_path(out: Path) -> Path:
    return out.with_name(out.stem + ".summary.csv")


def run_identity(lm: MaskedLM | CausalLM, mlama_dir: Path) -> dict:
    """What makes parts reusable: same model, tokenizer, dtype and mLAMA folder."""
    return {
        "model": str(lm.path.resolve()),
        "tokenizer_sha256": lm.tokenizer.sha256,
        "dtype": lm.dtype,
        "mlama": str(Path(mlama_dir).resolve()),
    }


def open_parts(out: Path, identity: dict) -> Path:
    """The parts folder for `out`, created, or checked to belong to this same run."""
    parts = parts_dir(out)
    marker = parts / "run.json"
    if marker.is_file():
        found = json.loads(marker.read_text(encoding="utf-8"))
        if found != identity:
            raise FactrootsError(
                f"{parts} holds a different run ({found.get('model')}, {found.get('dtype')}); "
                "remove it or choose another --out"
            )
        return parts
    parts.mkdir(parents=True, exist_ok=True)
    write_text(marker, json.dumps(identity, indent=2))
    return parts


def probe_language(
    lm: MaskedLM,
    mlama_dir: Path,
    lang: str,
    batch_size: int,
    on_batch: OnBatch | None = None,
    on_progress: Callable[[int], None] | None = None,
    on_start: Callable[[str, int], None] | None = None,
    checkpoints: Checkpoints[Prediction] | None = None,
) -> tuple[pa.Table, dict[str, int]]:
    """One language's prediction table and its skipped facts by reason."""
    language = load_language(mlama_dir, lang)
    prompts = build_prompts(language.facts, language.templates, lm.tokenizer, lm.max_length)
    if on_start is not None:
        on_start(lang, len(prompts.prompts))
    predictions = predict_prompts(
        lm, prompts.prompts, batch_size, on_batch, on_progress, checkpoints
    )
    skipped = prompts.skipped_by_reason()
    if language.skipped:
        skipped["malformed mLAMA record"] = len(language.skipped)
    return prediction_table(lm, prompts.prompts, predictions), skipped


def probe(
    lm: MaskedLM | CausalLM,
    mlama_dir: str | Path,
    langs: Sequence[str],
    out: str | Path,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_batch: OnBatch | None = None,
    on_progress: Callable[[int], None] | None = None,
    on_start: Callable[[str, int], None] | None = None,
) -> ProbeResult:
    """Probe `langs`, resuming from finished parts; write `out` and its summary CSV. A masked LM
    fills k masks per fact; a causal LM (factroots.probing.causal) ranks candidates."""
    from factroots.probing.metrics import summary

    out, mlama_dir = Path(out), Path(mlama_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    parts = open_parts(out, run_identity(lm, mlama_dir))
    result = ProbeResult(out, summary_path(out), pd.DataFrame(), pd.DataFrame())
    for lang in langs:
        part = parts / f"{lang}.parquet"
        if part.is_file():
            result.resumed.append(lang)
            continue
        folder = parts / f"{lang}.batch-{batch_size}"
        if on_batch is not None:  # every batch's forward pass is needed: start it again
            shutil.rmtree(folder, ignore_errors=True)
        args = (mlama_dir, lang, batch_size, on_batch, on_progress, on_start)
        keep = on_batch is None  # checkpoints, unless every forward pass is needed
        if isinstance(lm, CausalLM):
            ranked = Checkpoints(folder, RANKED_CODEC) if keep else None
            table, skipped = probe_causal_language(lm, *args, ranked)
        else:
            predicted = Checkpoints(folder, PREDICTION_CODEC) if keep else None
            table, skipped = probe_language(lm, *args, predicted)
        write_parquet_atomic(table, part)
        shutil.rmtree(folder, ignore_errors=True)
        result.computed.append(lang)
        if skipped:
            result.skipped[lang] = skipped
    table = (
        pa.concat_tables(
            [pq.read_table(parts / f"{lang}.parquet", schema=SCHEMA) for lang in langs]
        )
        if langs
        else SCHEMA.empty_table()
    )
    write_parquet_atomic(table, out)
    result.predictions = table.to_pandas()
    result.summary = summary(result.predictions)
    with atomic_output(result.summary_path) as tmp:
        result.summary.to_csv(tmp, index=False)
    shutil.rmtree(parts)
    return result
