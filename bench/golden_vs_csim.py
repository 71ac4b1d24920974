"""Golden model against hls4ml's C simulation: same latents, same outputs, and how much faster numpy is.

    .venv/bin/python bench/golden_vs_csim.py [PRESET ...] [--n 256]

Prepares (or reuses from the cache) each preset's C-simulation, runs both executors on the same latents (median
of 3 runs after a warm-up) and prints the times, the ratio and the count of differing outputs (must be 0).
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time

import numpy as np

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("presets", nargs="*", default=["digits8", "mnist28", "vae28"])
    parser.add_argument("--n", type=int, default=256)
    args = parser.parse_args()
    print(f"{'preset':8s} {'prepare s':>9s} {'csim s':>8s} {'golden s':>9s} {'ratio':>6s} {'differing':>9s}")
    for preset in args.presets:
        model = quantize(load_preset(preset))
        z = latents(args.n, model.latent_dim, seed=0)
        start = time.perf_counter()
        csim = CSimExecutor(model)
        csim.prepare()
        prepare = time.perf_counter() - start
        t_csim = median_seconds(csim.run, z)
        t_golden = median_seconds(functools.partial(golden.generate, model), z)
        differing = int(np.count_nonzero(csim.run(z) != golden.generate(model, z)))
        print(f"{preset:8s} {prepare:9.2f} {t_csim:8.2f} {t_golden:9.3f} {t_csim / t_golden:6.1f} {differing:9d}",
              flush=True)


if __name__ == "__main__":
    main()
