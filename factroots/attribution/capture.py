"""Attribution inside `factroots probe`: an `on_batch` callback reading the hooked FFN outputs.

The callback sees each batch right after its forward pass (the probing loop's seam), averages
the FFN activations over each prompt's masks, keeps the correct facts' rows for PROBELESS and,
when asked, saves every fact's row as fp16. Languages are finished as soon as the next begins.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from factroots.attribution.activations import ActivationWriter, FfnCapture, capture_ffn_activations
from factroots.attribution.attribute import NeuronCollector, NeuronRows
from factroots.attribution.probeless import DEFAULT_TOP_K
from factroots.defaults import DEFAULT_BATCH_SIZE
from factroots.probing.predict import ProbeResult, probe


@dataclass
class ProbeAttribution:
    """The per-batch callback and, once the block ends, what it produced."""

    capture: FfnCapture
    collector: NeuronCollector | None
    writer: ActivationWriter | None
    languages: list[str] = field(default_factory=list)
    rows: NeuronRows | None = None

    def __call__(self, batch, predictions) -> None:
        acts = self.capture.mask_means(batch.mask_positions)
        facts = batch.facts
        lang = facts[0].lang
        if not self.languages or self.languages[-1] != lang:
            self.finish_language()
            self.languages.append(lang)
        uuids = [f.uuid for f in facts]
        relations = [f.relation for f in facts]
        if self.collector is not None:
            self.collector.add(lang, relations, uuids, batch.correct(predictions), acts)
        if self.writer is not None:
            self.writer.add(lang, uuids, relations, acts)

    def start_pass(self) -> None:
        """Forget what the hooks caught before the pass whose batch comes next."""
        self.capture.clear()

    def finish_language(self) -> None:
        if self.languages:
            if self.collector is not None:
                self.collector.flush_language(self.languages[-1])
            if self.writer is not None:
                self.writer.flush(self.languages[-1])


@contextmanager
def attribution_during_probe(
    model,
    model_name: str,
    neurons: str | Path | None = None,
    save_activations: str | Path | None = None,
    top_k: int = DEFAULT_TOP_K,
) -> Iterator[ProbeAttribution]:
    """Hook `model` for the block; pass the yielded object as `on_batch`.

    PROBELESS runs on the model's device (torch on CUDA, numba on the CPU). On a normal exit
    the neurons parquet is written to `neurons` and the fp16 activations to
    `save_activations` (each only when given).
    """
    with capture_ffn_activations(model) as capture:
        device = str(next(model.parameters()).device)
        collector = NeuronCollector(model_name, top_k, device) if neurons is not None else None
        writer = (
            ActivationWriter(save_activations, model_name, capture.layers, capture.intermediate)
            if save_activations is not None
            else None
        )
        state = ProbeAttribution(capture, collector, writer)
        yield state
        state.finish_language()
        if collector is not None and neurons is not None:
            state.rows = collector.finish()
            state.rows.write(neurons)
        if writer is not None:
            writer.close()


@dataclass
class ProbeRun:
    """A probe run and, when asked for, the neurons attributed in its forward passes."""

    result: ProbeResult
    neurons: NeuronRows | None = None


def probe_and_attribute(
    lm,
    mlama_dir: str | Path,
    langs: Sequence[str],
    out: str | Path,
    batch_size: int = DEFAULT_BATCH_SIZE,
    neurons: str | Path | None = None,
    save_activations: str | Path | None = None,
    top_k: int = DEFAULT_TOP_K,
    on_progress: Callable[[int], None] | None = None,
    on_start: Callable[[str, int], None] | None = None,
) -> ProbeRun:
    """`probe`, with FFN activations captured in the same passes when neurons or raw
    activations are asked for (languages resumed from an earlier run get neither)."""
    if neurons is None and save_activations is None:
        return ProbeRun(
            probe(lm, mlama_dir, langs, out, batch_size, on_progress=on_progress, on_start=on_start)
        )
    with attribution_during_probe(lm.model, lm.name, neurons, save_activations, top_k) as on_batch:
        result = probe(
            lm,
            mlama_dir,
            langs,
            out,
            batch_size,
            on_batch=on_batch,
            on_progress=on_progress,
            on_start=on_start,
        )
    return ProbeRun(result, on_batch.rows)
