"""Design-space exploration of the presets: their Pareto fronts, and Ray against one point after the other.

    .venv/bin/python bench/explore.py [--models mnist28=full dcgan28=full] [--no-serial]

For each model and grid (``full``: two bits either side of its widths, two table sizes, four budgets; ``quick``: one
bit, one table size, two budgets) on the board its weights fit, :func:`fpgagen.host.explore.explore` runs the grid
on a local Ray instance with this machine's cores and, unless ``--no-serial``, again one point after the other into a
fresh folder each time: the two must give the same points; the wall times give Ray's speedup here (Ray's start-up
included). Writes ``bench/results/explore.json`` and docs/results.md's section ``explore``; exits 1 when a run fails
or the two engines disagree.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

from results_doc import command, exit_status, machine, markdown_table, write_section

RESULTS = Path(__file__).resolve().parent / "results" / "explore.json"
WORK = Path(__file__).resolve().parent / "results" / "explore"


def run(model: str, grid_kind: str, serial: bool) -> dict:
    from fpgagen.host.explore import Point, explore, points, ray_missing
    from fpgagen.models.load import load_model
    from fpgagen.models.quantize import generator_widths, quantize
    from fpgagen.models.widths import judge

    missing = ray_missing()
    if missing:
        raise RuntimeError(f"this bench compares Ray with serial runs and needs ray ({missing})")
    generator = load_model(model)
    board = generator.board().board.name
    (data_width, weight_width), _ = generator_widths(generator)
    grid = points((data_width, weight_width), board, quick=grid_kind == "quick")
    timings, results = {}, {}
    for engine in ("ray", "serial") if serial else ("ray",):
        out = WORK / f"{generator.name}-{board}-{grid_kind}-{engine}"
        shutil.rmtree(out, ignore_errors=True)  # measured afresh, not resumed
        start = time.perf_counter()
        results[engine] = explore(generator.float_model(), board, out, grid, generator.spec.latents, engine,
                                  judge=judge(generator), progress=lambda line: None)
        timings[engine] = time.perf_counter() - start
        print(f"{generator.name} on {board}: {len(grid)} points on {engine} in {timings[engine]:.1f} s", flush=True)
    if serial:
        strip = [[{k: v for k, v in r.items() if k != "seconds"} for r in results[e]["points"]] for e in results]
        if strip[0] != strip[1]:
            raise RuntimeError("Ray and the serial run measured different points")
    result = results["ray"]
    # the shipped default: what quantize gives the model with no config, as a point of the grid
    info = quantize(generator).info
    default = Point(info["data_width"], info["weight_width"], info["table_size"], info["multipliers_budget"]).key
    return {"model": generator.name, "board": board, "grid": grid_kind, "points": len(grid), "default": default,
            "centre": [data_width, weight_width], "seconds": timings, "cores": os.cpu_count(),
            "speedup": timings["serial"] / timings["ray"] if serial else None,
            "front": result["front"], "chosen": result["chosen"]}


def section(rows: list[dict]) -> str:
    timing = [[f"`{r['model']}`", r["board"], f"{r['grid']} ({r['points']} points)", len(r["front"]),
               f"{r['seconds']['ray']:.0f}", f"{r['seconds'].get('serial', float('nan')):.0f}",
               f"{r['speedup']:.2f}x" if r["speedup"] else "-",
               r["chosen"]["key"] if r["chosen"] else "none", r["default"],
               "yes" if r["chosen"] and r["chosen"]["key"] == r["default"] else "no"] for r in rows]
    text = ("Each point quantized, its golden model compared with the float model on 256 latents (PSNR), its RTL "
            "twin's cycle bound at the board's 100 MHz, its multipliers and weight ROM bits checked against the board. "
            f"Ray ran a local instance on the machine's {rows[0]['cores']} cores (its start-up included in the time); "
            "both engines measured the same points. The chosen point is the fastest that fits and meets the width "
            "rule's targets (PSNR >= 35 dB and, for these digit generators, the Frechet distance within 5% of the "
            "float model's on the held-out digits' latents); default: the point quantize takes with no config.\n\n"
            + markdown_table(["model", "board", "grid", "front", "Ray s", "serial s", "speedup", "chosen", "default",
                              "same"], timing, align="lllrrrrlll"))
    for r in rows:
        rule = (r["chosen"] or {}).get("width_rule")
        if rule:
            text += (f"\n\n`{r['model']}`'s chosen point by the width rule's test: PSNR {rule['psnr_db']:.2f} dB"
                     + (f", Frechet distance {rule['frechet']:.2f} (float {rule['float_frechet']:.2f})"
                        if "frechet" in rule else "") + ".")
    for r in rows:
        front = [[f["key"], f"{f['psnr_db']:.1f}", f"{f['cycles_per_image']:,}", f"{f['images_per_s']:,.0f}",
                  f["multipliers"], f"{f['weight_bits'] / 1e6:.2f}", "yes" if f["fits"] else "no"]
                 for f in r["front"][:12]]
        text += (f"\n\nFront of `{r['model']}` on {r['board']} (first 12 by images/s):\n\n"
                 + markdown_table(["point", "PSNR dB", "cycles/image", "images/s", "multipliers", "ROM Mbit",
                                   "fits"], front, align="lrrrrrl"))
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["mnist28=full", "dcgan28=full"], metavar="MODEL=GRID")
    parser.add_argument("--no-serial", action="store_true", help="Ray only (no speedup measured)")
    args = parser.parse_args(argv)
    measured = machine()
    rows, failed = [], {}
    for item in args.models:
        model, _, grid = item.partition("=")
        try:
            rows.append(run(model, grid or "full", not args.no_serial))
        except Exception as e:  # noqa: BLE001 -- reported, the bench exits non-zero
            failed[model] = f"{type(e).__name__}: {e}"
    if rows:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps({"measured": measured, "rows": rows}, indent=1) + "\n")
        write_section("explore", "Design-space exploration", command(), measured, section(rows))
    return exit_status(failed)


if __name__ == "__main__":
    sys.exit(main())
