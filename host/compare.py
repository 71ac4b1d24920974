"""CPU against FPGA: latency, throughput, accuracy against float and image quality of one preset on every target.

:func:`compare` runs the same seeded latents through each executor (``fpgagen.host.executors``) and returns a
JSON-ready dict. This module measures; :mod:`fpgagen.host.report` reports: ``format_table`` prints the dict and
``write_report`` writes it with its plots under a folder.
A target that cannot run here (no board, no CUDA, no Verilator, no torch) is reported as ``{"skipped": reason}``,
never faked.

Workstation and board. On a workstation the float reference is torch on the CPU. On a PYNQ board (numpy + pynq,
no torch, hls4ml or Verilator) the same call runs with ``overlay=`` the overlay's ``.bit``: the preset's shape
and output range come from the float reference file beside it (``<stem>.float.npz``), the reference is that
numpy float generator, ``golden`` runs the QuantizedModel beside it (``<stem>.quantized/``) when present, the
targets needing torch are skipped with the reason, and so are the quality metrics (their classifier is a torch
model). With ``FPGAGEN_VIRTUAL_BOARD=1`` and a virtual overlay, ``board`` runs on the virtual board and its row
says ``"virtual": true``.

JSON schema ``fpgagen.compare/2`` (``compare.json``)::

    schema          "fpgagen.compare/2"
    preset, dataset (null where quality cannot run), output_range, latent_dim, image_shape, seed
    environment     {torch_version (null without torch), torch_threads, cuda_available, cuda_device, numpy_version,
                     cpu_count, machine, platform, python}
    settings        {batches, repeats, min_measure_s, n_quality, quality_budget_s, board, clock_hz, dsps,
                     reference: "torch" | "numpy", overlay (null or the .bit)}
    targets         {name: row}; a row is either {"skipped": reason} or
        description, kind, prepare_s, virtual (board only: true on the virtual board)
        limits          {batches, repeats, reason} -- only where the target's work was capped (rtlsim)
        latency         {batch: 1, repeats, median_s, min_s, seconds: [...],
                         projected: {cycles, s}}                                    (measured wall clock)
        throughput      [{batch, repeats, median_s, min_s, images_per_s, seconds: [...], projected: {...}}
                         or {batch, skipped: reason}]
        projected       (simulated hardware only) {label: "projected", board, clock_hz, basis, bound_cycles,
                         bound_images_per_s, dsps, macs_per_image, dsp_limit_images_per_s, beats_in_per_image,
                         beats_out_per_image}; each throughput entry's ``projected`` is
                         {cycles_per_image, bound_cycles, efficiency, clock_hz, s_per_image, images_per_s}:
                         simulated kernel cycles measured on that batch and the time they mean at ``clock_hz``.
                         Everything outside a ``projected`` block is measured wall clock on this machine.
        accuracy        {n, max_abs_error, mean_abs_error, psnr_db, peak} against the reference float on the same
                        latents (PSNR over the output range); ``bit_exact_with_golden`` and
                        ``max_abs_diff_to_golden`` on the fixed-point targets; {"skipped": reason} without one
        quality         {n, recognizability, coverage, frechet} or {"skipped": reason}
    files           {name: file name} of what report.write_report wrote beside compare.json
    files_skipped   {name: reason} of what it could not write here (plots without matplotlib)

The dict :func:`compare` returns also holds ``_images`` ({target: images on the accuracy latents}); it is left
out of the JSON.

Times are medians over at least ``repeats`` runs (fast targets repeat until ``min_measure_s`` has passed) after
one warm-up run. The accuracy and quality latents are ``latents(n_quality, latent_dim, seed, distribution)``
(:func:`fpgagen.core.latents.latents`, the generator's distribution), shared by every target, so images are
comparable one by one.
"""

from __future__ import annotations

import copy
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from fpgagen.core.accuracy import errors
from fpgagen.core.latents import latents
from fpgagen.host.report import GRID_N, write_report
from fpgagen.host.subject import Subject, import_error

SCHEMA = "fpgagen.compare/2"
CLOCK_HZ = 100e6  # default overlay fabric clock; a comparison uses its board's (Subject.board)
FIXED_POINT = ("golden", "csim", "virtual-golden", "rtlsim", "board")
SLOW_ACCURACY_N = 64
QUALITY_BUDGET_S = 30.0
BOARD_N_QUALITY = 256  # accuracy latents where there is no dataset to count (the board)
MIN_MEASURE_S = 0.2
MAX_REPEATS = 200
# Caps on targets too slow for the full sweep: largest batch, most repeats, and why.
CAPS = {"rtlsim": {"max_batch": 16, "max_repeats": 2,
                   "reason": "cycle-accurate Verilator simulation (~15 images/s on mnist28): batches up to 16, "
                             "at most 2 repeats"}}
# Any other target whose sweep would take longer than this at its batch-1 speed gets the same cap (the C
# simulation of dcgan28: ~1.4 s per image).
SWEEP_BUDGET_S = 60.0
SLOW_CAP = {"max_batch": 16, "max_repeats": 2}
# What each target is, in a few words (the table's and the plot's second label).
KINDS = {"torch": "CPU float", "cuda": "GPU float", "numpy": "CPU float (numpy)", "golden": "CPU fixed point",
         "csim": "HLS C sim (simulator speed)", "virtual-golden": "virtual board (golden)",
         "rtlsim": "RTL sim (simulator speed)",
         "board": "FPGA board"}
# Python packages a target imports beyond numpy, whatever files it is given.
TARGET_MODULES = {"torch": ("torch",), "cuda": ("torch",), "csim": ("torch", "hls4ml"),
                  "virtual-golden": ("pynq",), "rtlsim": ("pynq",), "board": ("pynq",)}


class CudaExecutor:
    """The float PyTorch generator on the first CUDA device (a comparison row only, not a registered target)."""

    target = "cuda"
    description = "float PyTorch on CUDA"

    def __init__(self, generator):
        self.generator, self.last_info = generator, {}

    def prepare(self) -> CudaExecutor:
        import torch

        if not torch.cuda.is_available():
            raise RuntimeError("torch.cuda.is_available() is False (no CUDA device or a CPU-only torch build)")
        self.module = copy.deepcopy(self.generator.module).to("cuda")  # the CPU rows keep theirs
        self.description = f"float PyTorch on {torch.cuda.get_device_name(0)}"
        return self

    def run(self, z) -> np.ndarray:
        import torch

        with torch.no_grad():
            x = torch.from_numpy(np.ascontiguousarray(z, np.float32)).to("cuda")
            images = self.module(x)
            torch.cuda.synchronize()
        return images.cpu().numpy()

    def close(self) -> None:
        self.module = None


def default_targets() -> list[str]:
    """Every registered executor, with ``cuda`` after the float reference ``torch``."""
    from fpgagen.host.executors import EXECUTORS

    return ["torch", "cuda", *(t for t in EXECUTORS if t != "torch")]


def unavailable(target: str, subject: Subject) -> str | None:
    """Why ``target`` cannot run here (a missing package, model or tool), or None; checked before preparing it."""
    needs = list(TARGET_MODULES.get(target, ()))
    hint = ""
    if subject.generator is None:
        if target == "numpy" and subject.float_model is None:
            needs.append("torch")
            hint = f" to lower the generator; or give it {subject.name}.float.npz beside --overlay"
        if target in FIXED_POINT and target != "board" and subject.quantized is None:
            needs.append("torch")
            hint = f" to quantize the generator; or give it {subject.name}.quantized/ beside --overlay"
    for module in dict.fromkeys(needs):
        error = import_error(module)
        if error:
            return f"needs {module}, not importable here ({error}){hint if module == 'torch' else ''}"
    if subject.generator is None and target in ("torch", "cuda"):
        return "needs the torch generator (this subject comes from the overlay's files)"
    from fpgagen.host.executors import on_pynq_image

    if target in ("virtual-golden", "rtlsim") and on_pynq_image():
        return ("not run on a PYNQ board: the virtual board would replace the real one as pynq's active device "
                "(the board target measures the hardware)")
    if target == "rtlsim":
        from fpgagen.rtl.rtlsim import missing_tools

        missing = missing_tools()
        if missing:
            return f"the rtlsim backend needs {', '.join(missing)}"
    return None


def _executor(target: str, subject: Subject):
    reason = unavailable(target, subject)
    if reason:
        raise RuntimeError(reason)
    model = subject.model_for(target)
    if target == "cuda":
        return CudaExecutor(model)
    from fpgagen.host.executors import get_executor

    options: dict = {}
    if target == "board" or (target in ("virtual-golden", "rtlsim") and subject.fold_board):
        options["board"] = subject.board
        if subject.bitfile is not None:
            options["bitfile"] = subject.bitfile
    return get_executor(target, model, **options)


def _timed_runs(executor, z: np.ndarray, repeats: int, min_time_s: float) -> tuple[list[float], dict]:
    """Seconds of at least ``repeats`` runs (more, up to MAX_REPEATS, until ``min_time_s`` has passed) after one
    warm-up run, and ``last_info`` of the last one."""
    executor.run(z)
    seconds: list[float] = []
    while len(seconds) < repeats or (sum(seconds) < min_time_s and len(seconds) < MAX_REPEATS):
        start = time.perf_counter()
        executor.run(z)
        seconds.append(time.perf_counter() - start)
    return seconds, dict(getattr(executor, "last_info", {}) or {})


def projected(cycles_per_image: float, clock_hz: float = CLOCK_HZ, bound_cycles: int | None = None) -> dict:
    """What ``cycles_per_image`` simulated kernel clocks mean at ``clock_hz``; with ``bound_cycles`` (the
    slowest stage's analytical cycles per image) also the efficiency bound / measured."""
    s = cycles_per_image / clock_hz
    result = {"cycles_per_image": float(cycles_per_image), "clock_hz": clock_hz, "s_per_image": s,
              "images_per_s": 1.0 / s if s > 0 else float("inf")}
    if bound_cycles is not None:
        result.update(bound_cycles=int(bound_cycles), efficiency=bound_cycles / cycles_per_image)
    return result


def _hardware_projection(executor, subject: Subject) -> dict:
    """The rtlsim row's ``projected`` block: the design's bound and the board's DSP ceiling at its clock."""
    from fpgagen.rtl.generate import dsp_limit_images_per_s, total_macs

    bound = executor.bound_cycles
    clock_hz, dsps = subject.clock_hz, subject.dsps
    return {"label": "projected", "clock_hz": clock_hz, "board": subject.board,
            "basis": "simulated kernel clock cycles counted while the virtual AXI DMA streamed each batch: every "
                     "AXI-Stream beat in (latent_dim per image) and out (C*H*W per image) is included, at most one "
                     "beat per clock; the driver's software time on the board (packing, DMA register writes, "
                     "unpacking) is not",
            "bound_cycles": bound, "bound_images_per_s": clock_hz / bound, "dsps": dsps,
            "macs_per_image": total_macs(executor.model),
            "dsp_limit_images_per_s": dsp_limit_images_per_s(executor.model, dsps, clock_hz),
            "beats_in_per_image": subject.latent_dim, "beats_out_per_image": int(np.prod(subject.image_shape))}


def _accuracy(images: np.ndarray, reference: np.ndarray, peak: float) -> dict:
    return {**errors(images, reference, peak), "peak": peak}


def _progress(total: int, desc: str, enabled: bool):
    from tqdm import tqdm  # a dependency of pynq, so on the board too

    return tqdm(total=total, desc=desc, unit="step", disable=not enabled, file=sys.stderr, leave=False)


def compare(subject: Subject, targets=None, batches=(1, 16, 64), repeats: int = 5, n_quality: int | None = None,
            progress: bool = True, seed: int = 0, quality_budget_s: float = QUALITY_BUDGET_S,
            torch_threads: int | None = None, out: Path | None = None, min_measure_s: float = MIN_MEASURE_S) -> dict:
    """Latency, throughput, accuracy against float and image quality of ``subject`` on each target.

    Args:
        subject: what is compared (:meth:`Subject.of` a Generator, or :func:`resolve_subject` of a preset name
            and an overlay).
        targets: target names (default :func:`default_targets`; ``cuda`` runs only where CUDA is available).
            The float reference (``torch``, or ``numpy`` where torch is absent) is always run first.
        batches: batch sizes of the throughput sweep (latency is batch 1).
        repeats: least timed runs per measurement (after one warm-up run); the median is reported.
        n_quality: latents for accuracy and quality (default: the dataset's held-out count; 256 on the board).
        progress: show a tqdm progress bar on stderr.
        seed: latent seed.
        quality_budget_s: a target whose measured throughput would need longer than this for ``n_quality``
            images gets its quality skipped (with the reason) and its accuracy on fewer latents.
        torch_threads: torch intra-op threads for the run (default: torch's own choice), restored afterwards.
            On a loaded machine with few cores, more than one thread can make the tiny float models tens of
            milliseconds slower per call (threads waiting on each other); the JSON states the number used.
        out: when given, also :func:`fpgagen.host.report.write_report` there.
        min_measure_s: fast targets repeat each measurement until this many seconds have passed.

    Returns:
        The result dict of the module docstring's schema.
    """
    batches = sorted({int(b) for b in batches})
    if not batches or batches[0] < 1 or repeats < 1:
        raise ValueError(f"batches and repeats must be positive, got {batches} and {repeats}")
    if n_quality is not None and int(n_quality) < 1:
        raise ValueError(f"n_quality must be positive, got {n_quality}")
    if import_error("torch") is not None:
        return _compare(subject, targets, batches, repeats, n_quality, progress, seed, quality_budget_s, out,
                        min_measure_s)
    import torch

    previous_threads = torch.get_num_threads()
    if torch_threads is not None:
        torch.set_num_threads(torch_threads)
    try:
        return _compare(subject, targets, batches, repeats, n_quality, progress, seed, quality_budget_s, out,
                        min_measure_s)
    finally:
        torch.set_num_threads(previous_threads)


def _environment() -> dict:
    env = {"torch_version": None, "torch_threads": None, "cuda_available": False, "cuda_device": None,
           "numpy_version": np.__version__,
           "cpu_count": os.cpu_count(), "machine": platform.machine(), "platform": platform.platform(),
           "python": sys.version.split()[0]}
    if import_error("torch") is None:
        import torch

        env.update(torch_version=torch.__version__, torch_threads=torch.get_num_threads(),
                   cuda_available=torch.cuda.is_available(),
                   cuda_device=torch.cuda.get_device_name(0) if torch.cuda.is_available() else None)
    return env


def _compare(subject: Subject, targets, batches, repeats, n_quality, progress, seed, quality_budget_s, out,
             min_measure_s):
    reference = "torch" if subject.generator is not None else "numpy"
    targets = list(default_targets() if targets is None else targets)
    if reference in targets:
        targets.remove(reference)
    targets.insert(0, reference)
    if n_quality is None:
        if subject.dataset is None:
            n_quality = BOARD_N_QUALITY
        else:
            from fpgagen.models.data import load_dataset

            n_quality = len(load_dataset(subject.dataset).held_out)
    n_quality = int(n_quality)
    z_all = latents(n_quality, subject.latent_dim, seed, subject.latents)
    lo, hi = subject.output_range
    result = {
        "schema": SCHEMA, "preset": subject.name, "dataset": subject.dataset, "output_range": [lo, hi],
        "latent_dim": subject.latent_dim, "image_shape": list(subject.image_shape), "seed": seed,
        "environment": _environment(),
        "settings": {"batches": batches, "repeats": repeats, "min_measure_s": min_measure_s, "n_quality": n_quality,
                     "quality_budget_s": quality_budget_s, "board": subject.board,
                     "clock_hz": subject.clock_hz, "dsps": subject.dsps,
                     "reference": reference, "overlay": None if subject.bitfile is None else str(subject.bitfile)},
        "targets": {},
    }
    images: dict[str, np.ndarray] = {}
    steps_per_target = 3 + len(batches)  # prepare, latency, batches, accuracy/quality
    bar = _progress(steps_per_target * len(targets), f"compare {subject.name}", progress)
    try:
        for target in targets:
            bar.set_postfix_str(f"{target}: prepare")
            row = _run_target(target, subject, batches, repeats, min_measure_s, z_all, seed, quality_budget_s,
                              reference, images, bar)
            result["targets"][target] = row
            bar.update(steps_per_target - row.pop("_steps", 0))
    finally:
        bar.close()

    if "golden" in images:
        for target in FIXED_POINT:
            if target in images and target != "golden":
                n = min(len(images[target]), len(images["golden"]))
                diff = float(np.abs(images[target][:n].astype(np.float64) - images["golden"][:n]).max())
                result["targets"][target]["accuracy"].update(bit_exact_with_golden=diff == 0.0,
                                                             max_abs_diff_to_golden=diff)
    result["files"], result["files_skipped"] = {}, {}
    if out is not None:
        write_report(result, images, out)
    result["_images"] = images
    return result


def _run_target(target, subject, batches, repeats, min_measure_s, z_all, seed, quality_budget_s, reference, images,
                bar) -> dict:
    """One target's row (see the schema); its images on the accuracy latents go into ``images``."""
    executor = None
    try:
        start = time.perf_counter()
        executor = _executor(target, subject)
        executor.prepare()
        row = {"description": executor.description, "kind": KINDS.get(target, target),
               "prepare_s": time.perf_counter() - start, "_steps": 1}
    except Exception as e:  # noqa: BLE001 -- a target that cannot start here is reported, not raised
        if executor is not None:
            executor.close()
        reason = str(e) if isinstance(e, RuntimeError) and type(e) is RuntimeError else f"{type(e).__name__}: {e}"
        return {"skipped": reason}
    bar.update()
    try:
        if getattr(executor, "virtual", False):
            row["virtual"] = True
            row["kind"] = "virtual board (not hardware)"
        simulated = target == "rtlsim"
        if simulated:
            row["projected"] = _hardware_projection(executor, subject)
        bound = row["projected"]["bound_cycles"] if simulated else None
        cap = CAPS.get(target)
        t_batches, t_repeats, t_min_s = batches, repeats, min_measure_s

        def apply(cap: dict) -> None:
            nonlocal t_batches, t_repeats, t_min_s
            t_batches = [b for b in batches if b <= cap["max_batch"]] or [min(batches[0], cap["max_batch"])]
            t_repeats, t_min_s = min(repeats, cap["max_repeats"]), 0.0
            row["limits"] = {"batches": t_batches, "repeats": t_repeats, "reason": cap["reason"]}

        if cap:
            apply(cap)
        bar.set_postfix_str(f"{target}: latency")
        seconds, info = _timed_runs(executor, z_all[:1], t_repeats, t_min_s)
        row["latency"] = {"batch": 1, "repeats": len(seconds), "median_s": statistics.median(seconds),
                          "min_s": min(seconds), "seconds": seconds}
        sweep_s = statistics.median(seconds) * sum(batches) * repeats
        if not cap and sweep_s > SWEEP_BUDGET_S:
            cap = {**SLOW_CAP, "reason": f"{statistics.median(seconds):.2f} s per image: the full sweep would take "
                                         f"~{sweep_s:.0f} s (budget {SWEEP_BUDGET_S:g} s), so batches up to "
                                         f"{SLOW_CAP['max_batch']}, at most {SLOW_CAP['max_repeats']} repeats"}
            apply(cap)
        if "cycles" in info:
            row["latency"]["projected"] = {"cycles": int(info["cycles"]), "s": info["cycles"] / subject.clock_hz}
        bar.update()
        row["_steps"] += 1
        row["throughput"] = []
        for b in sorted(set(batches) | set(t_batches)):  # a capped target measures its largest batch instead
            bar.update()
            row["_steps"] += 1
            if b not in t_batches:
                row["throughput"].append({"batch": b, "skipped": cap["reason"]})
                continue
            bar.set_postfix_str(f"{target}: batch {b}")
            z = latents(b, subject.latent_dim, seed + 1, subject.latents)
            seconds, info = _timed_runs(executor, z, t_repeats, t_min_s)
            median = statistics.median(seconds)
            entry = {"batch": b, "repeats": len(seconds), "median_s": median, "images_per_s": b / median,
                     "min_s": min(seconds), "seconds": seconds}
            if "cycles_per_image" in info:
                entry["projected"] = projected(info["cycles_per_image"], subject.clock_hz, bound)
            row["throughput"].append(entry)

        bar.set_postfix_str(f"{target}: accuracy and quality")
        n_quality = len(z_all)
        rates = [e["images_per_s"] for e in row["throughput"] if "images_per_s" in e]
        best = max(rates) if rates else 1 / row["latency"]["median_s"]
        estimate_s = n_quality / best
        within_budget = estimate_s <= quality_budget_s
        n = n_quality if within_budget else min(n_quality, max(GRID_N, SLOW_ACCURACY_N))
        images[target] = executor.run(z_all[:n])
        lo, hi = subject.output_range
        if target != reference:
            row["accuracy"] = (_accuracy(images[target], images[reference][:n], hi - lo) if reference in images
                               else {"skipped": f"the float reference ({reference}) did not run"})
        row["quality"] = _quality(images[target], subject, n_quality, within_budget, estimate_s, best,
                                  quality_budget_s)
    finally:
        executor.close()
    return row


def _quality(images, subject: Subject, n_quality, within_budget, estimate_s, best, quality_budget_s) -> dict:
    if subject.dataset is None:
        if import_error("torch") is not None:
            return {"skipped": f"needs torch for the metric classifier, not importable here ({import_error('torch')})"}
        shape = "x".join(map(str, subject.image_shape))
        if shape in ("1x28x28", "1x8x8"):
            return {"skipped": f"{subject.name} is not judged as a digit model (turned off at import): error and PSNR "
                               "against float only"}
        return {"skipped": f"{subject.name} makes {shape} images; the digit classifiers judge 1x28x28 and 1x8x8 digit "
                           "models only (error and PSNR against float instead)"}
    if n_quality < 2:
        return {"skipped": f"a Frechet distance needs at least 2 images, n_quality={n_quality}"}
    if not within_budget:
        return {"skipped": f"{n_quality} images would take ~{estimate_s:.0f} s at {best:.1f} images/s (budget "
                           f"{quality_budget_s:g} s); accuracy on the first {len(images)} latents only"}
    from fpgagen.models.metrics import quality, to_signed_unit

    return {"n": len(images), **quality(to_signed_unit(images, subject.output_range), subject.dataset)}


__all__ = ["CLOCK_HZ", "SCHEMA", "compare", "default_targets", "projected", "unavailable"]
