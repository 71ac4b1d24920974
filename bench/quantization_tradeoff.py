"""Quality against fixed-point width: the measurement behind the presets' widths (GeneratorSpec.widths).

For each preset it sweeps the data width (every activation/result) at a generous weight width, then the weight
width at a generous data width, then checks the corner the two minima suggest, widening it a bit at a time (data
before weights: models.widths._corner) until both targets
hold: Frechet distance within 5% of the float model's and PSNR >= 35 dB against float, on the same latents
(n = held-out digits, seed 0). Results are merged by preset into models/quantization_tradeoff.json (each preset
with the date and machine it was measured on), and docs/results.md's section ``quantization_tradeoff`` is rendered
from that file. A preset whose sweep fails, or whose widest corner misses the targets, is left as it was in both,
and the bench exits 1.

    .venv/bin/python bench/quantization_tradeoff.py [PRESET ...]
"""

from __future__ import annotations

import json
import sys
import time

from results_doc import describe, exit_status, machine, markdown_table, write_section

from fpgagen.core.quantize import QuantConfig
from fpgagen.models import widths
from fpgagen.models.presets import load_preset
from fpgagen.models.quantize import TRADEOFF_FILE, quantize

OUT = TRADEOFF_FILE
PRESETS = ["digits8", "mnist28", "vae28", "dcgan28"]


def sweep(preset: str) -> dict:
    """The width rule's sweep of ``preset`` (:func:`fpgagen.models.widths.sweep`), each point printed."""

    def show(row: dict) -> None:
        print(f"  {preset:8s} data {row['data_width']:2d} weight {row['weight_width']:2d}: PSNR {row['psnr_db']:6.2f} "
              f"dB  FD {row['frechet']:8.2f} (float {row['float_frechet']:.2f})  recog {row['recognizability']:.3f}  "
              f"{'ok' if row['meets_targets'] else '--'}", flush=True)

    generator = load_preset(preset)
    return widths.sweep(generator, lambda d, w: quantize(generator, QuantConfig(data_width=d, weight_width=w)),
                        report=show)


def chosen_row(result: dict) -> dict:
    """The sweep row of the widths a preset's sweep chose."""
    chosen = result["chosen"]
    return next(r for r in reversed(result["rows"])
                if (r["data_width"], r["weight_width"]) == (chosen["data_width"], chosen["weight_width"]))


def _presets_in(results: dict) -> list[str]:
    known = [p for p in PRESETS if p in results]
    return known + sorted(k for k, v in results.items() if k not in known and isinstance(v, dict) and "chosen" in v)


def section(results: dict) -> tuple[str, str]:
    """The docs/results.md section of every preset in ``results``: (where it was measured, markdown body)."""
    presets = _presets_in(results)
    targets = results["targets"]
    rows = []
    for preset in presets:
        r = chosen_row(results[preset])
        rows.append([f"`{preset}`", r["data_width"], r["weight_width"], f"{r['psnr_db']:.1f} dB",
                     f"{r['max_abs_error']:.3f} / {r['mean_abs_error']:.4f}",
                     f"{r['frechet']:.2f} ({r['float_frechet']:.2f})",
                     f"{r['recognizability']:.3f} ({r['float_recognizability']:.3f})",
                     f"{results[preset]['seconds']:.0f} s"])
    body = [f"The narrowest widths that keep the Frechet distance within {100 * targets['frechet_within']:g}% of the "
            f"float model's and PSNR >= {targets['psnr_db']:g} dB against float (same latents: n = held-out digits, "
            "seed 0); the presets' widths (`GeneratorSpec.widths`, quantize's defaults) are these. Raw results: "
            "`models/quantization_tradeoff.json`.", "",
            markdown_table(["preset", "data bits", "weight bits", "PSNR vs float", "max / mean abs error",
                            "Frechet fixed (float)", "recognizability fixed (float)", "sweep time"], rows,
                           align="lrrrrrrr")]
    for preset in presets:
        sweep_rows = [[r["data_width"], r["weight_width"], f"{r['psnr_db']:.2f}",
                       f"{r['max_abs_error']:.4f} / {r['mean_abs_error']:.5f}", f"{r['frechet']:.2f}",
                       f"{r['recognizability']:.3f}", "yes" if r["meets_targets"] else "no"]
                      for r in results[preset]["rows"]]
        body += ["", f"<details><summary>{preset}: every width tried (data widths at 16-bit weights, weight widths "
                 "at 16-bit data, then the corner)</summary>", "",
                 markdown_table(["data bits", "weight bits", "PSNR dB", "max / mean abs error", "Frechet",
                                 "recognizability", "meets targets"], sweep_rows, align="rrrrrrl"), "", "</details>"]
    when: dict[str, list[str]] = {}
    for preset in presets:
        m = results[preset].get("measured")
        when.setdefault(describe(m) if m else "before dates were recorded", []).append(preset)
    measured = "Measured " + "; ".join(f"{', '.join(names)}: {where}" for where, names in when.items()) + "."
    return measured, "\n".join(body)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("presets", nargs="*", metavar="PRESET",
                        help=f"presets to sweep (default: all of {', '.join(sorted(PRESETS))})")
    presets = parser.parse_args(sys.argv[1:] if argv is None else argv).presets or list(PRESETS)
    unknown = [p for p in presets if p not in PRESETS]
    if unknown:
        parser.error(f"unknown preset(s) {', '.join(unknown)}; presets: {', '.join(sorted(PRESETS))}")
    measured = machine()
    results = json.loads(OUT.read_text()) if OUT.exists() else {}
    failed: dict[str, str] = {}
    for preset in presets:
        start = time.perf_counter()
        print(f"{preset}:", flush=True)
        try:
            result = sweep(preset)
        except Exception as e:  # noqa: BLE001 -- reported, the bench exits non-zero; the other presets still run
            failed[preset] = f"{type(e).__name__}: {e}"
            continue
        if not chosen_row(result)["meets_targets"]:
            failed[preset] = "no widths up to 16 x 16 bits meet the targets"
            continue
        result["seconds"] = round(time.perf_counter() - start, 1)
        result["measured"] = measured
        results[preset] = result
        print(f"  -> narrowest meeting the targets: data {result['chosen']['data_width']}, weight "
              f"{result['chosen']['weight_width']}")
    if len(failed) < len(presets):
        results["targets"] = {"frechet_within": widths.FD_TOLERANCE, "psnr_db": widths.PSNR_TARGET_DB}
        OUT.write_text(json.dumps(results, indent=1) + "\n")
        print(f"wrote {OUT}")
        where, body = section(results)
        write_section("quantization_tradeoff", "Fixed-point widths: quality against float",
                      ".venv/bin/python bench/quantization_tradeoff.py", where, body)
    return exit_status(failed)


if __name__ == "__main__":
    sys.exit(main())
