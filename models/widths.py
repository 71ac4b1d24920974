"""The width rule: the narrowest fixed-point widths that keep a generator's images close to its float images.

The sweep quantizes at a range of data widths (every activation and result) with generous 16-bit weights, then a
range of weight widths with generous 16-bit data, then tries the corner the two minima suggest and widens it one
bit in all at a time, data before weights (:func:`_corner`), until both targets hold on the same latents: PSNR >= 35
dB against float and, where the generator has a digit dataset to judge by, a Frechet distance within 5% of the float
model's. ``bench/quantization_tradeoff.py``
runs it on the presets and records the result (their ``GeneratorSpec.widths``); quantization runs it for a
generator that has no measured widths and says so in the model's ``info``.
"""

from __future__ import annotations

from collections.abc import Callable

FD_TOLERANCE = 0.05
PSNR_TARGET_DB = 35.0
DATA_WIDTHS = range(6, 15)
WEIGHT_WIDTHS = range(3, 11)
WIDEST = 16
N_WITHOUT_DATASET = 256  # latents judged by PSNR alone
RULE = (f"psnr>={PSNR_TARGET_DB},frechet<=+{FD_TOLERANCE},data{DATA_WIDTHS},weights{WEIGHT_WIDTHS},widest{WIDEST},"
        "corner:fewest-bits-then-weights")


def measure(generator, model, float_images) -> dict:
    """One point: ``model`` (the generator quantized at some widths) against ``float_images`` (the generator's
    images on latents of seed 0)."""
    from fpgagen.models.quality import fixed_vs_float

    data_width, weight_width = model.info["data_width"], model.info["weight_width"]
    q = fixed_vs_float(model, generator, n=len(float_images), float_images=float_images)
    ok = q["psnr_db"] >= PSNR_TARGET_DB
    row = {"data_width": data_width, "weight_width": weight_width, "psnr_db": round(q["psnr_db"], 2),
           "max_abs_error": round(q["max_abs_error"], 4), "mean_abs_error": round(q["mean_abs_error"], 5)}
    if "fixed" in q:
        ok = ok and q["fixed"]["frechet"] <= q["float"]["frechet"] * (1 + FD_TOLERANCE)
        row.update(frechet=round(q["fixed"]["frechet"], 2), float_frechet=round(q["float"]["frechet"], 2),
                   recognizability=round(q["fixed"]["recognizability"], 3),
                   float_recognizability=round(q["float"]["recognizability"], 3))
    row["meets_targets"] = bool(ok)
    return row


def judge(generator, n: int | None = None) -> Callable[[object], dict]:
    """The width rule's targets as a test of any QuantizedModel of ``generator``: ``judge(model)`` is
    :func:`measure`'s row (``meets_targets``: PSNR >= 35 dB and, with a digit dataset, the Frechet distance within 5%
    of the float model's) on ``n`` latents (default: the held-out digits of its dataset, else
    :data:`N_WITHOUT_DATASET`), the float images made once. The explorer judges its candidate points by it."""
    from fpgagen.models.data import load_dataset

    spec = generator.spec
    if n is None:
        n = len(load_dataset(spec.dataset).held_out) if spec.dataset else N_WITHOUT_DATASET
    float_images = generator.generate(generator.latents(n, 0))
    return lambda model: measure(generator, model, float_images)


def sweep(generator, quantize_at: Callable[[int, int], object], n: int | None = None,
          report: Callable[[dict], None] | None = None) -> dict:
    """``{"chosen": {"data_width", "weight_width"}, "rows": [every point tried]}`` for ``generator`` on ``n``
    latents (default: the held-out digits of its dataset, else :data:`N_WITHOUT_DATASET`). ``quantize_at(data_width,
    weight_width)`` quantizes the generator at those widths; ``report`` sees each row as it is measured."""
    test = judge(generator, n)
    rows = []

    def point(d: int, w: int) -> dict:
        row = test(quantize_at(d, w))
        rows.append(row)
        if report:
            report(row)
        return row

    data_rows = [point(d, WIDEST) for d in DATA_WIDTHS]
    weight_rows = [point(WIDEST, w) for w in WEIGHT_WIDTHS]
    d = min((r["data_width"] for r in data_rows if r["meets_targets"]), default=WIDEST)
    w = min((r["weight_width"] for r in weight_rows if r["meets_targets"]), default=12)
    return {"chosen": _corner(d, w, point), "rows": rows}


def _corner(d: int, w: int, point: Callable[[int, int], dict]) -> dict:
    """From the two minima (``d``, ``w``): the fewest bits in all that meet the targets, of those the fewest weight
    bits (weights are the block RAM; a data bit costs only logic): every split of one more bit, then two, ..., each
    tried with the narrowest weights first."""
    for extra in range(0, 2 * WIDEST - d - w + 1):
        for ww in range(w, min(w + extra, WIDEST) + 1):
            dd = d + extra - (ww - w)
            if dd <= WIDEST and point(dd, ww)["meets_targets"]:
                return {"data_width": dd, "weight_width": ww}
    return {"data_width": WIDEST, "weight_width": WIDEST}
