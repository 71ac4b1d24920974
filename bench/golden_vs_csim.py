"""Golden model against hls4ml's C simulation: same latents, same outputs, and how much faster numpy is.

    .venv/bin/python bench/golden_vs_csim.py [PRESET ...] [--n 256]

Prepares (or reuses from the cache) each preset's C-simulation, runs both executors on the same latents (median
of 3 runs after a warm-up) and prints the times, the ratio and the count of differing outputs (must be 0). Writes
``bench/results/golden_vs_csim.json`` and docs/results.md's section ``golden_vs_csim`` with the presets that
succeeded; a preset that fails or whose outputs differ is left out of both, and the bench exits 1.
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from results_doc import command, exit_status, machine, markdown_table, write_section

from fpgagen.core import golden
from fpgagen.core.latents import latents
from fpgagen.hls.csim import CSimExecutor
from fpgagen.models.presets import load_preset
from fpgagen.models.quantize import quantize


def median_seconds(run, z, repeats: int = 3) -> float:
    run(z)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run(z)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


RESULTS = Path(__file__).resolve().parent / "results" / "golden_vs_csim.json"


def measure(preset: str, n: int) -> dict:
    """Preparation, C-simulation and golden times of ``preset`` on ``n`` latents, and its differing outputs."""
    model = quantize(load_preset(preset))
    z = latents(n, model.latent_dim, seed=0)
    start = time.perf_counter()
    csim = CSimExecutor(model)
    csim.prepare()
    prepare = time.perf_counter() - start
    t_csim = median_seconds(csim.run, z)
    t_golden = median_seconds(functools.partial(golden.generate, model), z)
    differing = int(np.count_nonzero(csim.run(z) != golden.generate(model, z)))
    return {"preset": preset, "n": n, "prepare_s": prepare, "csim_s": t_csim, "golden_s": t_golden,
            "ratio": t_csim / t_golden, "outputs": int(n * np.prod(model.image_shape)), "differing": differing}


def section(rows: list[dict]) -> str:
    """docs/results.md's table of ``rows``."""
    table = [[f"`{r['preset']}`", r["n"], f"{r['prepare_s']:.1f}", f"{r['csim_s']:.3f}", f"{r['golden_s']:.4f}",
              f"{r['ratio']:.1f}x", f"{r['differing']} of {r['outputs']:,d}"] for r in rows]
    return ("Both run the preset's default QuantizedModel on the same latents (seed 0); times are the median of 3 "
            "runs after a warm-up. *prepare* is converting with hls4ml, writing the project and compiling it with "
            "g++ (or finding it in the cache).\n\n"
            + markdown_table(["preset", "latents", "prepare s", "C sim s", "golden s", "golden faster by",
                              "differing outputs"], table))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("presets", nargs="*", default=["digits8", "mnist28", "vae28"])
    parser.add_argument("--n", type=int, default=256)
    args = parser.parse_args(argv)
    measured = machine()
    rows, failed = [], {}
    print(f"{'preset':8s} {'prepare s':>9s} {'csim s':>8s} {'golden s':>9s} {'ratio':>6s} {'differing':>9s}")
    for preset in args.presets:
        try:
            r = measure(preset, args.n)
        except Exception as e:  # noqa: BLE001 -- reported, the bench exits non-zero; the other presets still run
            failed[preset] = f"{type(e).__name__}: {e}"
            continue
        print(f"{preset:8s} {r['prepare_s']:9.2f} {r['csim_s']:8.2f} {r['golden_s']:9.3f} {r['ratio']:6.1f} "
              f"{r['differing']:9d}", flush=True)
        if r["differing"]:
            failed[preset] = f"{r['differing']} outputs of the C simulation differ from golden"
            continue
        rows.append(r)
    if rows:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps({"measured": measured, "rows": rows}, indent=1) + "\n")
        write_section("golden_vs_csim", "Golden model against hls4ml's C simulation", command(), measured,
                      section(rows))
    return exit_status(failed)


if __name__ == "__main__":
    sys.exit(main())
