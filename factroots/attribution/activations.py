"""FFN activations at the mask positions, captured by forward hooks in the prediction's own pass.

Hooks sit on every `encoder.layer[i].intermediate` (dense + GELU), so what they see is the
post-GELU output, (batch, seq, intermediate) per layer. `FfnCapture.mask_means` turns one
forward pass's captures into a (batch, layers x intermediate) float32 array on the CPU: for
each example the mean over its own mask positions; neuron id = layer * intermediate + unit.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from factroots.atomic import atomic_output, write_text
from factroots.errors import FactrootsError

META_FILE = "meta.json"


def encoder_layers(model):
    """The transformer blocks (`encoder.layer`) of a BERT-like model, found generically."""
    for owner in (getattr(model, "base_model", None), model):
        layers = getattr(getattr(owner, "encoder", None), "layer", None)
        if layers is not None:
            return layers
    for name, module in model.named_modules():
        if name.endswith("encoder") and hasattr(module, "layer"):
            return module.layer
    raise FactrootsError(f"no encoder.layer found in {type(model).__name__}")


@dataclass
class FfnCapture:
    """Per-layer FFN outputs of the latest forward pass (chunked FFNs are concatenated)."""

    layers: int
    intermediate: int
    outputs: list[list] = field(default_factory=list)

    @property
    def neurons(self) -> int:
        return self.layers * self.intermediate

    def layer_outputs(self) -> list:
        """One (batch, seq, intermediate) tensor per layer."""
        import torch

        if not all(self.outputs):
            raise RuntimeError("no forward pass captured yet")
        return [parts[0] if len(parts) == 1 else torch.cat(parts, dim=1) for parts in self.outputs]

    def clear(self) -> None:
        for parts in self.outputs:
            parts.clear()

    def mask_means(self, mask_positions) -> np.ndarray:
        """(batch, layers x intermediate) float32 means at each example's masks; then clears."""
        try:
            return mean_at_masks(self.layer_outputs(), mask_positions)
        finally:
            self.clear()


#: Where a causal LM's FFN intermediate is: (the blocks, each block's down projection), whose
#: input is act(gate(x)) * up(x) for gated MLPs, act(fc1(x)) otherwise (DESIGN.md, Attribution
#: in causal LMs).
CAUSAL_FFN = {
    "LlamaForCausalLM": ("model.layers", "mlp.down_proj"),
    "Qwen2ForCausalLM": ("model.layers", "mlp.down_proj"),
    "GemmaForCausalLM": ("model.layers", "mlp.down_proj"),
    "CohereForCausalLM": ("model.layers", "mlp.down_proj"),
    "BloomForCausalLM": ("transformer.h", "mlp.dense_4h_to_h"),
    "XGLMForCausalLM": ("model.layers", "fc2"),
    "GPT2LMHeadModel": ("transformer.h", "mlp.c_proj"),
}


def _causal_down_projections(model) -> list | None:
    """Each block's down projection of a causal LM of CAUSAL_FFN, or None for other models."""
    where = CAUSAL_FFN.get(type(model).__name__)
    if where is None:
        return None
    blocks = model.get_submodule(where[0])
    return [block.get_submodule(where[1]) for block in blocks]


def _down_projection_width(module) -> int:
    """Input width of a down projection (nn.Linear, or GPT-2's transposed Conv1D)."""
    if hasattr(module, "in_features"):
        return int(module.in_features)
    return int(module.weight.shape[0])


@contextmanager
def capture_ffn_activations(model) -> Iterator[FfnCapture]:
    """Hook every layer's FFN intermediate for the duration of the block: a masked LM's
    `intermediate` output, a causal LM's down-projection input."""
    down = _causal_down_projections(model)
    if down is not None:
        capture = FfnCapture(len(down), _down_projection_width(down[0]), [[] for _ in down])

        def register(index: int, module):
            def hook(_module, inputs):
                capture.outputs[index].append(inputs[0].detach())

            return module.register_forward_pre_hook(hook)

        modules = down
    else:
        layers = encoder_layers(model)
        dense = getattr(layers[0].intermediate, "dense", None)
        width = int(getattr(dense, "out_features", 0) or model.config.intermediate_size)
        capture = FfnCapture(len(layers), width, [[] for _ in layers])

        def register(index: int, module):
            def hook(_module, _inputs, output):
                capture.outputs[index].append(output.detach())

            return module.register_forward_hook(hook)

        modules = [layer.intermediate for layer in layers]
    handles = [register(i, module) for i, module in enumerate(modules)]
    try:
        yield capture
    finally:
        for handle in handles:
            handle.remove()
        capture.clear()


def mask_weights(mask_positions, batch: int, seq: int, device=None):
    """(batch, seq) float32 tensor with 1/k at each example's k mask positions, else 0."""
    import torch

    if isinstance(mask_positions, torch.Tensor):
        mask = mask_positions.to(device=device, dtype=torch.float32)
    else:
        if len(mask_positions) != batch:
            raise ValueError(f"{len(mask_positions)} position lists for a batch of {batch}")
        mask = torch.zeros((batch, seq), dtype=torch.float32)
        for row, positions in enumerate(mask_positions):
            mask[row, list(positions)] = 1.0
        mask = mask.to(device)
    if tuple(mask.shape) != (batch, seq):
        raise ValueError(f"mask shape {tuple(mask.shape)} != (batch, seq) {(batch, seq)}")
    counts = mask.sum(dim=1, keepdim=True)
    if bool((counts == 0).any()):
        raise ValueError("an example has no mask position")
    return mask / counts


def mean_at_masks(layer_outputs: Sequence, mask_positions) -> np.ndarray:
    """(batch, layers x intermediate) float32: per example the mean over its mask positions.

    `mask_positions` is one sequence of token positions per example, or a (batch, seq) boolean
    tensor. Only the reduced rows leave the device.
    """
    import torch

    batch, seq, _ = layer_outputs[0].shape
    weights = mask_weights(mask_positions, batch, seq, layer_outputs[0].device)
    with torch.no_grad():
        means = [torch.einsum("bs,bsi->bi", weights, out.float()) for out in layer_outputs]
        return torch.cat(means, dim=1).cpu().numpy().astype(np.float32, copy=False)


def mask_positions_of(input_ids, mask_token_id: int) -> list[list[int]]:
    """Positions of `mask_token_id` in each row of a (batch, seq) id tensor."""
    return [
        np.flatnonzero(row == mask_token_id).tolist()
        for row in np.asarray(input_ids.cpu() if hasattr(input_ids, "cpu") else input_ids)
    ]


@dataclass
class ActivationStore:
    """Saved fp16 activations: DIR/meta.json, DIR/<lang>.npy and DIR/<lang>.index.parquet."""

    root: Path
    model: str
    layers: int
    intermediate: int

    def array_path(self, lang: str) -> Path:
        return self.root / f"{lang}.npy"

    def index_path(self, lang: str) -> Path:
        return self.root / f"{lang}.index.parquet"

    def languages(self) -> list[str]:
        return sorted(p.name[: -len(".index.parquet")] for p in self.root.glob("*.index.parquet"))

    def load(self, lang: str) -> tuple[np.ndarray, list[str], list[str]]:
        """(memory-mapped (facts, neurons) fp16 array, uuids, relations) of one language."""
        import pyarrow.parquet as pq

        index = pq.read_table(self.index_path(lang)).to_pydict()
        array = np.load(self.array_path(lang), mmap_mode="r")
        if array.shape != (len(index["uuid"]), self.layers * self.intermediate):
            raise FactrootsError(
                f"{self.array_path(lang)}: shape {array.shape} does not match "
                f"its index ({len(index['uuid'])} rows) and meta.json"
            )
        return array, index["uuid"], index["relation"]


def open_store(root: str | Path) -> ActivationStore:
    """The activation store written by `ActivationWriter` at `root`."""
    root = Path(root)
    meta_path = root / META_FILE
    if not meta_path.is_file():
        raise FactrootsError(f"no saved activations at {root} (missing {META_FILE})")
    meta = json.loads(meta_path.read_text())
    return ActivationStore(root, meta["model"], int(meta["layers"]), int(meta["intermediate"]))


class ActivationWriter:
    """Appends fp16 activation rows per language; `close()` writes the .npy and index files."""

    def __init__(self, root: str | Path, model: str, layers: int, intermediate: int):
        self.store = ActivationStore(Path(root), model, layers, intermediate)
        self.store.root.mkdir(parents=True, exist_ok=True)
        self._rows: dict[str, list[np.ndarray]] = {}
        self._index: dict[str, tuple[list[str], list[str]]] = {}

    def add(
        self, lang: str, uuids: Sequence[str], relations: Sequence[str], acts: np.ndarray
    ) -> None:
        if len(uuids) != len(acts) or len(relations) != len(acts):
            raise ValueError("uuids, relations and activation rows differ in length")
        self._rows.setdefault(lang, []).append(np.asarray(acts, dtype=np.float16))
        uu, rel = self._index.setdefault(lang, ([], []))
        uu.extend(uuids)
        rel.extend(relations)

    def flush(self, lang: str) -> None:
        """Write one language's files and free its rows."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        width = self.store.layers * self.store.intermediate
        rows = self._rows.pop(lang, [])
        array = np.concatenate(rows) if rows else np.empty((0, width), np.float16)
        with atomic_output(self.store.array_path(lang)) as tmp:
            np.save(tmp, array)
        uuids, relations = self._index.pop(lang, ([], []))
        with atomic_output(self.store.index_path(lang)) as tmp:
            pq.write_table(
                pa.table(
                    {
                        "uuid": pa.array(uuids, pa.string()),
                        "relation": pa.array(relations, pa.string()),
                    }
                ),
                tmp,
            )

    def close(self) -> ActivationStore:
        for lang in list(self._rows):
            self.flush(lang)
        meta = {
            "model": self.store.model,
            "layers": self.store.layers,
            "intermediate": self.store.intermediate,
            "dtype": "float16",
        }
        write_text(self.store.root / META_FILE, json.dumps(meta, indent=2) + "\n")
        return self.store
