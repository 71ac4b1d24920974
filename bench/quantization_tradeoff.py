"""Quality against fixed-point width: the measurement behind the presets' widths (GeneratorSpec.widths).

For each preset it sweeps the data width (every activation/result) at a generous weight width, then the weight
width at a generous data width, then checks the corner the two minima suggest, widening until both targets
hold: Frechet distance within 5% of the float model's and PSNR >= 35 dB against float, on the same latents
(n = held-out digits, seed 0). Results go to models/quantization_tradeoff.json and a table on stdout.

    .venv/bin/python bench/quantization_tradeoff.py [PRESET ...]
"""

from __future__ import annotations

import json
import sys
import time

from fpgagen.core.latents import latents
from fpgagen.core.quantize import QuantConfig
from fpgagen.models.presets import load_preset
from fpgagen.models.quality import fixed_vs_float
from fpgagen.models.quantize import TRADEOFF_FILE, quantize

FD_TOLERANCE = 0.05
PSNR_TARGET_DB = 35.0
OUT = TRADEOFF_FILE


def measure(generator, data_width: int, weight_width: int, float_images) -> dict:
    model = quantize(generator, QuantConfig(data_width=data_width, weight_width=weight_width))
    q = fixed_vs_float(model, generator, float_images=float_images)
    ok = q["fixed"]["frechet"] <= q["float"]["frechet"] * (1 + FD_TOLERANCE) and q["psnr_db"] >= PSNR_TARGET_DB
    row = {"data_width": data_width, "weight_width": weight_width, "psnr_db": round(q["psnr_db"], 2),
           "max_abs_error": round(q["max_abs_error"], 4), "mean_abs_error": round(q["mean_abs_error"], 5),
           "frechet": round(q["fixed"]["frechet"], 2), "float_frechet": round(q["float"]["frechet"], 2),
           "recognizability": round(q["fixed"]["recognizability"], 3),
           "float_recognizability": round(q["float"]["recognizability"], 3), "meets_targets": bool(ok)}
    print(f"  {generator.name:8s} data {data_width:2d} weight {weight_width:2d}: PSNR {row['psnr_db']:6.2f} dB  "
          f"FD {row['frechet']:8.2f} (float {row['float_frechet']:.2f})  recog {row['recognizability']:.3f}  "
          f"{'ok' if ok else '--'}", flush=True)
    return row


def sweep(preset: str) -> dict:
    generator = load_preset(preset)
    spec = generator.spec
    n = 359 if spec.dataset == "digits8" else 1000
    float_images = generator.generate(latents(n, spec.latent_dim, 0))
    rows = []
    data_rows = [measure(generator, d, 16, float_images) for d in range(6, 15)]
    weight_rows = [measure(generator, 16, w, float_images) for w in range(3, 11)]
    rows += data_rows + weight_rows
    d = min((r["data_width"] for r in data_rows if r["meets_targets"]), default=16)
    w = min((r["weight_width"] for r in weight_rows if r["meets_targets"]), default=12)
    while True:  # the corner: widen the cheaper-to-widen side first until both targets hold
        row = measure(generator, d, w, float_images)
        rows.append(row)
        if row["meets_targets"] or (d >= 16 and w >= 16):
            break
        d, w = (d + 1, w) if d <= w else (d, w + 1)
    return {"chosen": {"data_width": d, "weight_width": w}, "rows": rows}


def main(presets: list[str]) -> None:
    results = json.loads(OUT.read_text()) if OUT.exists() else {}
    for preset in presets:
        start = time.perf_counter()
        print(f"{preset}:", flush=True)
        results[preset] = sweep(preset)
        results[preset]["seconds"] = round(time.perf_counter() - start, 1)
        print(f"  -> narrowest meeting the targets: data {results[preset]['chosen']['data_width']}, weight "
              f"{results[preset]['chosen']['weight_width']}")
    results["targets"] = {"frechet_within": FD_TOLERANCE, "psnr_db": PSNR_TARGET_DB}
    OUT.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main(sys.argv[1:] or ["digits8", "mnist28", "vae28", "dcgan28"])
