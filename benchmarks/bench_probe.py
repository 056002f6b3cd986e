"""Probe throughput: prompts/s for a model of mBERT-base's exact shape (random weights).

    python -m benchmarks.bench_probe [--scale small|full] [--out benchmarks/results_probe.md]

Random weights run exactly as fast as trained ones (same shapes, same kernels). Prompts are real
mLAMA prompts (en, ja, ru, ar, hi mixed) built with the bundled mBERT tokenizer; the timed loop is
`predict_prompts` (padding, encoder, LM head at the masks, argmax/top-5), after one warm-up batch.
Prompt building (tokenization) is timed separately. `probe_section()` returns the markdown that
`benchmarks/run.py` puts into RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).parent
SHARED_MLAMA = HERE.parent.parent / "shared" / "data" / "mlama1.1"
LANGS = ("en", "ja", "ru", "ar", "hi")
MBERT_VOCAB = 119547
TARGET_GPU = 20_000
SCALES = {
    # prompts timed per setting, and (dtype, batch sizes) per device kind. bfloat16 on a CPU
    # without native bf16 (AVX2 only) is several times slower than float32: timed once.
    "small": {
        "prompts": {"cpu": 32, "cuda": 8192},
        "cpu": [("float32", [8, 32]), ("bfloat16", [32])],
        "cuda": [
            ("float32", [256, 1024]),
            ("bfloat16", [256, 1024, 4096]),
            ("float16", [1024, 4096]),
        ],
    },
    "full": {
        "prompts": {"cpu": 512, "cuda": 65536},
        "cpu": [("float32", [16, 64, 256]), ("bfloat16", [64])],
        "cuda": [
            ("float32", [256, 1024, 4096]),
            ("bfloat16", [256, 1024, 4096, 8192]),
            ("float16", [1024, 4096, 8192]),
        ],
    },
}


@dataclass
class Figure:
    device: str
    dtype: str
    batch_size: int
    prompts: int
    seconds: float
    peak_gpu_gb: float | None

    @property
    def prompts_per_s(self) -> float:
        return self.prompts / self.seconds


def mbert_base_shaped(device: str):
    """A random float32 BertForMaskedLM with mBERT-base's shape, wrapped as a MaskedLM."""
    import torch
    from transformers import BertConfig, BertForMaskedLM

    from factroots.probing.model import MaskedLM
    from factroots.tokenizer import load_tokenizer

    torch.manual_seed(0)
    model = BertForMaskedLM(BertConfig(vocab_size=MBERT_VOCAB)).to(device).eval()
    return MaskedLM(
        "mbert-base-shaped (random)", Path("."), model, load_tokenizer("mbert"), device, "float32"
    )


def as_dtype(lm, dtype: str):
    """The same model converted in place to `dtype`."""
    from factroots.probing.model import torch_dtype

    lm.model.to(torch_dtype(dtype))
    lm.dtype = dtype
    return lm


def sample_prompts(n: int, mlama_dir: Path = SHARED_MLAMA):
    """n real prompts, spread evenly over LANGS, and the prompt-building rate (prompts/s)."""
    from factroots.mlama import load_language
    from factroots.probing.prompts import build_prompts
    from factroots.tokenizer import load_tokenizer

    tokenizer, prompts, built, seconds = load_tokenizer("mbert"), [], 0, 0.0
    for lang in LANGS:
        language = load_language(mlama_dir, lang)
        facts = language.facts[:: max(1, len(language.facts) // (n // len(LANGS) + 1))]
        start = time.perf_counter()
        made = build_prompts(facts, language.templates, tokenizer, 512).prompts
        seconds += time.perf_counter() - start
        built += len(facts)
        prompts += made[: n // len(LANGS) + 1]
    return prompts[:n], built / seconds


def time_setting(lm, prompts, batch_size: int) -> Figure:
    import torch

    from factroots.probing.predict import predict_prompts

    predict_prompts(lm, prompts[:4], batch_size)
    if lm.device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    predict_prompts(lm, prompts, batch_size)
    if lm.device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated() / 2**30 if lm.device.startswith("cuda") else None
    return Figure(lm.device, lm.dtype, batch_size, len(prompts), seconds, peak)


def sweep(scale: str, device: str, prompts) -> list[Figure]:
    """Every (dtype, batch size) of the scale's sweep on `device` ('cpu' or 'cuda')."""
    settings = SCALES[scale]
    prompts = prompts * (settings["prompts"][device] // len(prompts) + 1)
    prompts = prompts[: settings["prompts"][device]]
    lm, figures = mbert_base_shaped(device), []
    for dtype, batch_sizes in settings[device]:
        as_dtype(lm, dtype)
        figures += [time_setting(lm, prompts, b) for b in batch_sizes]
    return figures


def machine() -> dict:
    import torch

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE
    ).stdout.strip()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "gpu": gpu,
        "torch": torch.__version__,
        "commit": commit or "unknown",
        "load_average": tuple(round(x, 1) for x in os.getloadavg()),
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
    }


def rate(x: float) -> str:
    return f"{x:,.1f}" if x < 100 else f"{x:,.0f}"


def figures_table(figures: list[Figure]) -> str:
    rows = [
        "| device | dtype | batch | prompts | seconds | prompts/s | peak GPU GB |",
        "|---|---|---|---|---|---|---|",
    ]
    for f in figures:
        peak = "-" if f.peak_gpu_gb is None else f"{f.peak_gpu_gb:.2f}"
        rows.append(
            f"| {f.device} | {f.dtype} | {f.batch_size} | {f.prompts:,} | "
            f"{f.seconds:.2f} | {rate(f.prompts_per_s)} | {peak} |"
        )
    return "\n".join(rows)


def probe_section(scale: str | None = None) -> str:
    """Markdown section: CPU sweep here, GPU sweep where a CUDA GPU is present.

    The scale defaults to $FACTROOTS_BENCH_PROBE_SCALE, else 'small' (about a minute on 2 cores).
    """
    import torch

    scale = scale or os.environ.get("FACTROOTS_BENCH_PROBE_SCALE", "small")

    if not SHARED_MLAMA.is_dir():
        return f"## Probe (mLAMA prompts/s)\n\nskipped: {SHARED_MLAMA} not found\n"
    info = machine()
    prompts, build_rate = sample_prompts(min(SCALES[scale]["prompts"]["cuda"], 4096))
    figures = sweep(scale, "cpu", prompts)
    gpu_note = "No CUDA GPU on this machine: GPU figures not measured here."
    if torch.cuda.is_available():
        gpu = sweep(scale, "cuda", prompts)
        figures += gpu
        best = max(f.prompts_per_s for f in gpu)
        verdict = "met" if best >= TARGET_GPU else "**missed**"
        gpu_note = (
            f"GPU {info['gpu']}: best {rate(best)} prompts/s, target {TARGET_GPU:,} — {verdict}."
        )
    best_cpu = max(f.prompts_per_s for f in figures if f.device == "cpu")
    return f"""## Probe (mLAMA prompts/s, `factroots probe`)

Model: BertForMaskedLM with BertConfig defaults (12 layers, hidden 768, FFN 3072) and vocabulary
{MBERT_VOCAB:,} (mBERT-base's exact shape), random weights. Prompts: real mLAMA prompts from
{", ".join(LANGS)}, mBERT tokenizer; timed: `predict_prompts` (batches sorted by length, encoder,
LM head at the masks only, argmax + top-5), after a warm-up batch. Scale `{scale}`.

Machine: {info["cpu"]}, {info["cores"]} cores, torch threads {info["torch_threads"]}, load average
{info["load_average"]} (a shared machine), torch {info["torch"]}; commit {info["commit"]},
{info["date"]}.

{figures_table(figures)}

Best CPU: {rate(best_cpu)} prompts/s. {gpu_note}
Prompt building (NFC, mask filling, tokenization, mask checks): {build_rate:,.0f} prompts/s on
this machine's CPU.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="small")
    parser.add_argument("--out", type=Path, default=None, help="Also write the section here.")
    args = parser.parse_args()
    section = probe_section(args.scale)
    print(section)
    if args.out:
        args.out.write_text(f"# factroots probe benchmark\n\n{section}", encoding="utf-8")


if __name__ == "__main__":
    main()
