"""CPU against FPGA: latency, throughput, accuracy against float and image quality of one preset on every target.

:func:`compare` runs the same seeded latents through each executor (``fpgagen.host.executors``) and returns a
JSON-ready dict; :func:`write_report` writes it with its plots under a folder; :func:`format_table` prints it.
A target that cannot run here (no board, no CUDA, no Verilator) is reported as ``{"skipped": reason}``, never
faked.

JSON schema ``fpgagen.compare/1`` (``compare.json``)::

    schema          "fpgagen.compare/1"
    preset, dataset, output_range, latent_dim, seed
    environment     {torch_threads, torch_version, cuda_available, cpu_count, platform, python}
    settings        {batches, repeats, n_quality, quality_budget_s, clock_hz, reference: "torch"}
    targets         {name: row}; a row is either {"skipped": reason} or
        description, prepare_s
        limits          {batches, repeats, reason} -- only where the target's work was capped (rtlsim)
        latency         {batch: 1, repeats, median_s, min_s, seconds: [...]}     (measured wall clock)
        throughput      [{batch, repeats, median_s, min_s, images_per_s, seconds: [...],
                          projected: {cycles_per_image, clock_hz, s_per_image, images_per_s}}]
                        ``projected`` only for simulated hardware (rtlsim): measured simulated cycles per image
                        and the time they mean at ``clock_hz``; everything else in the row is measured
        accuracy        {n, max_abs_error, mean_abs_error, psnr_db, peak} against torch float on the same
                        latents (PSNR over the output range); ``bit_exact_with_golden`` and
                        ``max_abs_diff_to_golden`` on the fixed-point targets
        quality         {n, recognizability, coverage, frechet} or {"skipped": reason}
    files           {name: file name} of what write_report wrote beside compare.json

The dict :func:`compare` returns also holds ``_images`` ({target: images on the accuracy latents}); it is left
out of the JSON.

Times are medians over ``repeats`` runs after one warm-up run. The accuracy and quality latents are the
first ``n`` of ``latents(n_quality, latent_dim, seed)``, shared by every target, so images are comparable
one by one.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

SCHEMA = "fpgagen.compare/1"
CLOCK_HZ = 100e6
FIXED_POINT = ("golden", "csim", "virtual-golden", "rtlsim", "board")
REFERENCE = "torch"
GRID_N = 16
SLOW_ACCURACY_N = 64
QUALITY_BUDGET_S = 30.0
# Caps on targets too slow for the full sweep: largest batch, most repeats, and why.
CAPS = {"rtlsim": {"max_batch": 16, "max_repeats": 2,
                   "reason": "cycle-accurate Verilator simulation (~15 images/s on mnist28): batches up to 16, "
                             "at most 2 repeats"}}


class CudaExecutor:
    """The float PyTorch generator on the first CUDA device (a comparison row only, not a registered target)."""

    target = "cuda"
    description = "float PyTorch on CUDA"

    def __init__(self, preset: str, checkpoint: Path | None = None):
        self.preset, self.checkpoint, self.last_info = preset, checkpoint, {}

    def prepare(self) -> CudaExecutor:
        import torch

        from fpgagen.models.sampling import load_generator

        if not torch.cuda.is_available():
            raise RuntimeError("torch.cuda.is_available() is False (no CUDA device or a CPU-only torch build)")
        self.spec, generator = load_generator(self.preset, self.checkpoint)
        self.generator = generator.to("cuda")
        return self

    def run(self, z) -> np.ndarray:
        import torch

        with torch.no_grad():
            x = torch.from_numpy(np.ascontiguousarray(z, np.float32)).to("cuda")
            images = self.generator(x)
            torch.cuda.synchronize()
        return images.cpu().numpy()

    def close(self) -> None:
        self.generator = None


def default_targets() -> list[str]:
    """Every registered executor, with ``cuda`` after the float reference ``torch``."""
    from fpgagen.host.executors import EXECUTORS

    return [REFERENCE, "cuda", *(t for t in EXECUTORS if t != REFERENCE)]


def _executor(target: str, preset: str, checkpoint: Path | None):
    if target == "cuda":
        return CudaExecutor(preset, checkpoint)
    from fpgagen.host.executors import get_executor

    if target == "rtlsim":
        from fpgagen.host.rtl_backend import missing_tools

        missing = missing_tools()
        if missing:
            raise RuntimeError(f"the rtlsim backend needs {', '.join(missing)}")
    return get_executor(target, preset, checkpoint=checkpoint)


def _timed_runs(executor, z: np.ndarray, repeats: int) -> tuple[list[float], dict]:
    """Seconds of ``repeats`` runs after one warm-up run, and ``last_info`` of the last one."""
    executor.run(z)
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        executor.run(z)
        seconds.append(time.perf_counter() - start)
    return seconds, dict(getattr(executor, "last_info", {}) or {})


def projected(cycles_per_image: float, clock_hz: float = CLOCK_HZ) -> dict:
    """What ``cycles_per_image`` simulated kernel clocks mean at ``clock_hz``."""
    s = cycles_per_image / clock_hz
    return {"cycles_per_image": float(cycles_per_image), "clock_hz": clock_hz, "s_per_image": s,
            "images_per_s": 1.0 / s if s > 0 else float("inf")}


def _accuracy(images: np.ndarray, reference: np.ndarray, peak: float) -> dict:
    from fpgagen.hls.quality import psnr_db

    err = np.abs(images.astype(np.float64) - reference.astype(np.float64))
    return {"n": len(images), "max_abs_error": float(err.max()), "mean_abs_error": float(err.mean()),
            "psnr_db": psnr_db(reference, images, peak), "peak": peak}


def compare(preset: str, targets=None, batches=(1, 16, 64), repeats: int = 5, n_quality: int | None = None,
            progress: bool = True, seed: int = 0, checkpoint: Path | None = None,
            quality_budget_s: float = QUALITY_BUDGET_S, torch_threads: int | None = None,
            out: Path | None = None) -> dict:
    """Latency, throughput, accuracy against torch float and image quality of ``preset`` on each target.

    Args:
        preset: preset name.
        targets: target names (default :func:`default_targets`; ``cuda`` runs only where CUDA is available).
            ``torch`` is always run first: it is the float reference.
        batches: batch sizes of the throughput sweep (latency is batch 1).
        repeats: timed runs per measurement (after one warm-up run); the median is reported.
        n_quality: latents for accuracy and quality (default: the dataset's held-out count).
        progress: show a tqdm progress bar on stderr.
        seed: latent seed.
        checkpoint: generator checkpoint (default: the shipped one).
        quality_budget_s: a target whose measured throughput would need longer than this for ``n_quality``
            images gets its quality skipped (with the reason) and its accuracy on fewer latents.
        torch_threads: torch intra-op threads for the run (default: torch's own choice), restored afterwards.
            On a loaded machine with few cores, more than one thread can make the tiny float models tens of
            milliseconds slower per call (threads waiting on each other); the JSON states the number used.
        out: when given, also :func:`write_report` there.

    Returns:
        The result dict of the module docstring's schema.
    """
    import torch

    previous_threads = torch.get_num_threads()
    if torch_threads is not None:
        torch.set_num_threads(torch_threads)
    try:
        return _compare(preset, targets, batches, repeats, n_quality, progress, seed, checkpoint, quality_budget_s,
                        out)
    finally:
        torch.set_num_threads(previous_threads)


def _compare(preset, targets, batches, repeats, n_quality, progress, seed, checkpoint, quality_budget_s, out):
    import torch
    from tqdm import tqdm

    from fpgagen.models.data import load_dataset
    from fpgagen.models.metrics import quality, to_signed_unit
    from fpgagen.models.presets import get_preset
    from fpgagen.models.sampling import latents

    spec = get_preset(preset)
    targets = list(default_targets() if targets is None else targets)
    if REFERENCE in targets:
        targets.remove(REFERENCE)
    targets.insert(0, REFERENCE)
    batches = sorted({int(b) for b in batches})
    if not batches or batches[0] < 1 or repeats < 1:
        raise ValueError(f"batches and repeats must be positive, got {batches} and {repeats}")
    n_quality = len(load_dataset(spec.dataset).held_out) if n_quality is None else int(n_quality)
    z_all = latents(n_quality, spec.latent_dim, seed)
    lo, hi = spec.output_range
    result = {
        "schema": SCHEMA, "preset": preset, "dataset": spec.dataset, "output_range": [lo, hi],
        "latent_dim": spec.latent_dim, "seed": seed,
        "environment": {"torch_threads": torch.get_num_threads(), "torch_version": torch.__version__,
                        "cuda_available": torch.cuda.is_available(), "cpu_count": os.cpu_count(),
                        "platform": platform.platform(), "python": sys.version.split()[0]},
        "settings": {"batches": batches, "repeats": repeats, "n_quality": n_quality,
                     "quality_budget_s": quality_budget_s, "clock_hz": CLOCK_HZ, "reference": REFERENCE},
        "targets": {},
    }
    images: dict[str, np.ndarray] = {}
    steps_per_target = 3 + len(batches)  # prepare, latency, batches, accuracy/quality
    bar = tqdm(total=steps_per_target * len(targets), desc=f"compare {preset}", unit="step", disable=not progress,
               file=sys.stderr, leave=False)
    try:
        for target in targets:
            bar.set_postfix_str(f"{target}: prepare")
            row: dict = {}
            executor = None
            try:
                start = time.perf_counter()
                executor = _executor(target, preset, checkpoint)
                executor.prepare()
                row = {"description": executor.description, "prepare_s": time.perf_counter() - start}
            except Exception as e:  # noqa: BLE001 -- a target that cannot start here is reported, not raised
                if executor is not None:
                    executor.close()
                result["targets"][target] = {"skipped": f"{type(e).__name__}: {e}"}
                bar.update(steps_per_target)
                continue
            bar.update()
            try:
                cap = CAPS.get(target)
                t_batches, t_repeats = batches, repeats
                if cap:
                    t_batches = [b for b in batches if b <= cap["max_batch"]] or [min(batches[0], cap["max_batch"])]
                    t_repeats = min(repeats, cap["max_repeats"])
                    row["limits"] = {"batches": t_batches, "repeats": t_repeats, "reason": cap["reason"]}
                bar.set_postfix_str(f"{target}: latency")
                seconds, _ = _timed_runs(executor, z_all[:1], t_repeats)
                row["latency"] = {"batch": 1, "repeats": t_repeats, "median_s": statistics.median(seconds),
                                  "min_s": min(seconds), "seconds": seconds}
                bar.update()
                row["throughput"] = []
                for b in batches:
                    if b not in t_batches:
                        bar.update()
                        continue
                    bar.set_postfix_str(f"{target}: batch {b}")
                    z = latents(b, spec.latent_dim, seed + 1)
                    seconds, info = _timed_runs(executor, z, t_repeats)
                    median = statistics.median(seconds)
                    entry = {"batch": b, "repeats": t_repeats, "median_s": median, "images_per_s": b / median,
                             "min_s": min(seconds), "seconds": seconds}
                    if "cycles_per_image" in info:
                        entry["projected"] = projected(info["cycles_per_image"])
                    row["throughput"].append(entry)
                    bar.update()

                bar.set_postfix_str(f"{target}: accuracy and quality")
                best = max(e["images_per_s"] for e in row["throughput"])
                estimate_s = n_quality / best
                within_budget = estimate_s <= quality_budget_s and n_quality >= 2
                n = n_quality if within_budget else min(n_quality, max(GRID_N, SLOW_ACCURACY_N))
                images[target] = executor.run(z_all[:n])
                if target != REFERENCE:
                    row["accuracy"] = _accuracy(images[target], images[REFERENCE][:n], hi - lo)
                if within_budget:
                    row["quality"] = {"n": n, **quality(to_signed_unit(images[target], spec.output_range),
                                                        spec.dataset)}
                elif n_quality < 2:
                    row["quality"] = {"skipped": f"a Frechet distance needs at least 2 images, n_quality={n_quality}"}
                else:
                    row["quality"] = {"skipped": f"{n_quality} images would take ~{estimate_s:.0f} s at "
                                                 f"{best:.1f} images/s (budget {quality_budget_s:g} s); accuracy "
                                                 f"on the first {n} latents only"}
                bar.update()
            finally:
                executor.close()
            result["targets"][target] = row
    finally:
        bar.close()

    if "golden" in images:
        for target in FIXED_POINT:
            if target in images and target != "golden":
                n = min(len(images[target]), len(images["golden"]))
                diff = float(np.abs(images[target][:n].astype(np.float64) - images["golden"][:n]).max())
                result["targets"][target]["accuracy"].update(bit_exact_with_golden=diff == 0.0,
                                                             max_abs_diff_to_golden=diff)
    result["files"] = {}
    if out is not None:
        write_report(result, images, out)
    result["_images"] = images
    return result


def format_table(result: dict) -> str:
    """A terminal table: one line per target (skipped ones with their reason)."""
    batches = result["settings"]["batches"]
    head = (f"{'target':15s} {'latency ms':>10s} " + " ".join(f"{'img/s @' + str(b):>11s}" for b in batches)
            + f" {'proj img/s':>11s} {'n':>5s} {'max|err|':>9s} {'PSNR dB':>8s} {'=golden':>7s} {'frechet':>8s}"
            f" {'recog':>6s} {'cover':>6s}")
    lines = [f"{result['preset']}: torch threads {result['environment']['torch_threads']}, "
             f"n_quality {result['settings']['n_quality']}, median of {result['settings']['repeats']} runs, "
             f"projected at {result['settings']['clock_hz'] / 1e6:g} MHz", head, "-" * len(head)]
    notes = []
    for name, row in result["targets"].items():
        if "skipped" in row:
            lines.append(f"{name:15s} skipped: {row['skipped']}")
            continue
        tput = {e["batch"]: e for e in row["throughput"]}
        cells = [f"{tput[b]['images_per_s']:11.1f}" if b in tput else f"{'-':>11s}" for b in batches]
        proj = [e["projected"]["images_per_s"] for e in row["throughput"] if "projected" in e]
        acc = row.get("accuracy", {})
        q = row["quality"]
        n = acc["n"] if acc else q.get("n", result["settings"]["n_quality"])
        err = f"{n:5d} {acc['max_abs_error']:9.4f}" if acc else f"{n:5d} {'(ref)':>9s}"
        exact = {True: "yes", False: "NO"}.get(acc.get("bit_exact_with_golden"), "")
        psnr = f"{acc['psnr_db']:8.1f}" if acc else f"{'(ref)':>8s}"
        qual = (f"{q['frechet']:8.2f} {q['recognizability']:6.3f} {q['coverage']:6.3f}" if "skipped" not in q
                else f"{'-':>8s} {'-':>6s} {'-':>6s}")
        lines.append(f"{name:15s} {row['latency']['median_s'] * 1e3:10.3f} {' '.join(cells)} "
                     f"{(f'{proj[-1]:11.0f}' if proj else f'{chr(45):>11s}')} {err} {psnr} {exact:>7s} {qual}")
        if "limits" in row:
            notes.append(f"  {name}: {row['limits']['reason']}")
        if "skipped" in q:
            notes.append(f"  {name} quality skipped: {q['skipped']}")
    return "\n".join(lines + notes)


def write_report(result: dict, images: dict[str, np.ndarray], out: Path) -> dict[str, str]:
    """Write compare.json, table.txt, throughput.png, error_histogram.png and grid.png under ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from fpgagen.models.sampling import image_grid

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = {"json": "compare.json", "table": "table.txt", "throughput": "throughput.png",
             "error_histogram": "error_histogram.png", "grid": "grid.png"}
    ran = {k: v for k, v in result["targets"].items() if "skipped" not in v}
    batches = result["settings"]["batches"]

    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(ran) * len(batches) / 2), 4))
    width = 0.8 / len(batches)
    for i, b in enumerate(batches):
        values = [next((e["images_per_s"] for e in row["throughput"] if e["batch"] == b), 0.0) for row in ran.values()]
        ax.bar(np.arange(len(ran)) + i * width, values, width, label=f"batch {b} (measured)")
    for j, row in enumerate(ran.values()):
        proj = [e["projected"]["images_per_s"] for e in row["throughput"] if "projected" in e]
        if proj:
            ax.scatter([j + 0.4 - width / 2], [proj[-1]], marker="*", s=120, color="k", zorder=3,
                       label=f"projected at {CLOCK_HZ / 1e6:g} MHz")
    ax.set_xticks(np.arange(len(ran)) + 0.4 - width / 2, list(ran), rotation=20)
    ax.set_yscale("log")
    ax.set_ylabel("images / s")
    ax.set_title(f"{result['preset']}: throughput per target (torch threads "
                 f"{result['environment']['torch_threads']})")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / files["throughput"], dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4))
    ref = images.get(REFERENCE)
    for name, imgs in images.items():
        if name == REFERENCE or ref is None:
            continue
        err = (imgs.astype(np.float64) - ref[: len(imgs)]).ravel()
        ax.hist(err, bins=101, histtype="step", label=f"{name} (n={len(imgs)})", log=True)
    ax.set_xlabel("image - torch float (per pixel)")
    ax.set_ylabel("pixels")
    ax.set_title(f"{result['preset']}: error against float")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / files["error_histogram"], dpi=120)
    plt.close(fig)

    lo, hi = result["output_range"]
    n = min([GRID_N, *(len(v) for v in images.values())])
    cols = int(np.ceil(np.sqrt(n)))
    fig, axes = plt.subplots(1, len(images), figsize=(2.2 * len(images), 2.6), squeeze=False)
    for ax, (name, imgs) in zip(axes[0], images.items(), strict=True):
        ax.imshow(image_grid(imgs[:n], (lo, hi), cols=cols), cmap="gray", vmin=0, vmax=255)
        ax.set_title(name, fontsize=9)
        ax.axis("off")
    fig.suptitle(f"{result['preset']}: the same {n} latents (seed {result['seed']}) on each target", fontsize=10)
    fig.tight_layout()
    fig.savefig(out / files["grid"], dpi=120)
    plt.close(fig)

    result["files"] = files
    (out / files["table"]).write_text(format_table(result) + "\n")
    public = {k: v for k, v in result.items() if not k.startswith("_")}
    (out / files["json"]).write_text(json.dumps(public, indent=2) + "\n")
    return files


__all__ = ["CLOCK_HZ", "SCHEMA", "compare", "default_targets", "format_table", "projected", "write_report"]
