"""Importing generators from PyTorch, ONNX and Keras: the import check of each front end, and the seed document's
Keras DCGAN through quantization to its cycles per image on the ZCU102.

    .venv/bin/python bench/imports.py [--no-rtlsim]

- **PyTorch**: the canonical PyTorch DCGAN generator (:mod:`fpgagen.models.torch_dcgan`: pytorch/examples, RGB
  32x32, nz 100, ngf 64, BatchNorm statistics of its own activations), imported as ``file.py:make`` with a
  ``.safetensors`` file.
- **ONNX**: each preset exported by torch's exporter (opset 20) and imported: the check against onnxruntime, the
  float model against the preset's own lowering, and whether quantizing it gives the preset's QuantizedModel.
- **Keras**: the seed's ``make_generator_model()`` (``fpgagen.models.keras_seed``, seeded weights, realistic
  BatchNorm statistics) saved as ``.keras`` and imported: the check against Keras's ``predict``; the widths the width
  rule picks, fixed against float (PSNR, Frechet distance on 1,000 latents); and, unless ``--no-rtlsim``, its RTL
  twin's steady-state cycles per image on the ZCU102 (``bench/rtl_performance.py`` on its model folder).

Writes ``bench/results/imports.json`` and docs/results.md's section ``imports``; the work files go to
``bench/results/imports/``. Exits 1 when any measurement fails (nothing is written for it).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from results_doc import command, exit_status, machine, markdown_table, write_section

RESULTS = Path(__file__).resolve().parent / "results" / "imports.json"
WORK = Path(__file__).resolve().parent / "results" / "imports"
PRESETS = ("digits8", "mnist28", "vae28", "dcgan28")

PYTORCH_DCGAN = '''
from fpgagen.models.torch_dcgan import DCGAN


def make():
    return DCGAN()  # pytorch/examples' generator at 32x32: nz 100, ngf 64, RGB
'''


def check_row(front_end: str, what: str, generator, seconds: float) -> dict:
    check = generator.spec.source["check"]
    return {"front_end": front_end, "model": what, "framework": check["framework"], "latents": check["latents"],
            "max_abs_error": check["max_abs_error"], "relative": check["relative"], "import_s": seconds,
            "layers": " -> ".join(lr.kind for lr in generator.float_model().layers)}


def measure_torch() -> dict:
    import torch
    from safetensors.torch import save_file

    from fpgagen.models.load import load_model
    from fpgagen.models.torch_dcgan import DCGAN, with_batchnorm_statistics

    folder = WORK / "pytorch_dcgan"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dcgan.py").write_text(PYTORCH_DCGAN)
    torch.manual_seed(0)
    module = with_batchnorm_statistics(DCGAN(), 100)
    save_file(module.state_dict(), str(folder / "dcgan.safetensors"))
    start = time.perf_counter()
    generator = load_model(f"{folder / 'dcgan.py'}:make", folder / "dcgan.safetensors")
    return check_row("PyTorch", "pytorch/examples DCGAN, RGB 32x32", generator, time.perf_counter() - start)


def measure_onnx(preset: str) -> dict:
    import torch

    from fpgagen.core.quantize import QuantConfig
    from fpgagen.models.load import load_model
    from fpgagen.models.presets import load_preset
    from fpgagen.models.quantize import quantize

    generator = load_preset(preset)
    path = WORK / f"{preset}.onnx"
    path.parent.mkdir(parents=True, exist_ok=True)
    z = torch.zeros(2, generator.spec.latent_dim)
    torch.onnx.export(generator.module, (z,), str(path), dynamo=False, input_names=["z"], output_names=["images"],
                      dynamic_axes={"z": {0: "n"}, "images": {0: "n"}})
    start = time.perf_counter()
    imported = load_model(str(path), name=preset)
    row = check_row("ONNX", preset, imported, time.perf_counter() - start)
    zs = generator.latents(256, seed=7)
    lo, hi = generator.spec.output_range
    row["vs_torch_lowering"] = float(np.abs(imported.float_model().run(zs) - generator.float_model().run(zs)).max()
                                     / (hi - lo))
    data_width, weight_width = generator.spec.widths
    config = QuantConfig(data_width=data_width, weight_width=weight_width)
    board = generator.board().board.name
    a, b = quantize(generator, config, board=board), quantize(imported, config, board=board)
    row["same_quantized_model"] = bool(
        [lr.to_json() for lr in a.layers] == [lr.to_json() for lr in b.layers]
        and all(np.array_equal(x.weight, y.weight) and np.array_equal(x.bias, y.bias)
                for x, y in zip(a.layers, b.layers, strict=True) if x.weight is not None))
    return row


def measure_keras(rtlsim: bool) -> tuple[dict, dict]:
    from fpgagen.models.keras_seed import save_generator
    from fpgagen.models.load import load_model
    from fpgagen.models.model_folder import write_model_folder
    from fpgagen.models.quality import fixed_vs_float
    from fpgagen.models.quantize import quantize

    path = save_generator(WORK / "seed_dcgan.keras", seed=0)
    start = time.perf_counter()
    generator = load_model(str(path))
    row = check_row("Keras", "the seed's make_generator_model()", generator, time.perf_counter() - start)
    folder = write_model_folder(generator, WORK / "seed_dcgan")
    start = time.perf_counter()
    model = quantize(generator)
    quantize_s = time.perf_counter() - start
    q = fixed_vs_float(model, generator)
    board = generator.board().board
    seed = {"board": board.name, "width_source": model.info["width_source"], "quantize_s": quantize_s,
            "data_width": model.input_t.width, "weight_width": model.layers[0].weight_t.width,
            "psnr_db": q["psnr_db"], "max_abs_error": q["max_abs_error"], "n": q["n"],
            "frechet_fixed": q["fixed"]["frechet"], "frechet_float": q["float"]["frechet"],
            "multipliers": model.multipliers,
            "reuse_factors": [lr.reuse_factor for lr in model.layers if lr.weight is not None]}
    if rtlsim:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import rtl_performance

        r = rtl_performance.measure(str(folder))
        seed.update(cycles_per_image=r["measured_cycles_per_image"], bound_cycles=r["bound_cycles"],
                    bottleneck=r["bottleneck"], projected_images_per_s=r["projected_images_per_s_100mhz"],
                    dsp_limit_images_per_s=r["dsp_limit_images_per_s_100mhz"], rtl_multipliers=r["multipliers"])
    return row, seed


def section(checks: list[dict], seed: dict | None) -> str:
    table = [[r["front_end"], r["model"], r["framework"], f"{r['max_abs_error']:.2e}", f"{r['relative']:.1e}",
              f"{r['import_s']:.1f}",
              f"{r['vs_torch_lowering']:.1e}" if "vs_torch_lowering" in r else "-",
              ("yes" if r["same_quantized_model"] else "NO") if "same_quantized_model" in r else "-"]
             for r in checks]
    text = ("Each import runs the source framework and the lowered float model on the same 256 latents and refuses the "
            "model beyond 1e-4 of the output range. For the ONNX exports of the presets, *vs torch lowering* is the "
            "largest difference between the imported float model and the preset's own lowering (relative to the "
            "output range), and *same QuantizedModel* compares every type, code and reuse factor at the preset's "
            "widths and board budget.\n\n"
            + markdown_table(["front end", "model", "checked against", "max abs error", "of range", "import s",
                              "vs torch lowering", "same QuantizedModel"], table, align="lllrrrrl"))
    if seed:
        rows = [["board (block RAM for its weights)", seed["board"]],
                ["widths (data, weight)", f"{seed['data_width']}, {seed['weight_width']}: {seed['width_source']}"],
                ["fixed vs float", f"PSNR {seed['psnr_db']:.1f} dB, max abs error {seed['max_abs_error']:.3f} on "
                                   f"{seed['n']:,} latents; Frechet {seed['frechet_fixed']:.2f} (float "
                                   f"{seed['frechet_float']:.2f})"],
                ["multipliers, reuse factors", f"{seed['multipliers']:,}; {seed['reuse_factors']}"]]
        if "cycles_per_image" in seed:
            rows += [["RTL twin, cycles per image", f"{seed['cycles_per_image']:,.0f} measured (bound "
                                                    f"{seed['bound_cycles']:,}, bottleneck {seed['bottleneck']})"],
                     ["at 100 MHz", f"{seed['projected_images_per_s']:,.0f} images/s (every DSP busy: "
                                    f"{seed['dsp_limit_images_per_s']:,.0f})"]]
        text += ("\n\nThe seed's Keras DCGAN (untrained, seeded weights, BatchNorm statistics of its own activations), "
                 "imported and quantized with the defaults an imported model gets:\n\n"
                 + markdown_table(["", "seed DCGAN (Keras)"], rows, align="ll"))
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-rtlsim", action="store_true", help="skip the seed model's RTL twin measurement")
    args = parser.parse_args(argv)
    measured = machine()
    checks, failed, seed = [], {}, None
    steps = [("pytorch dcgan", measure_torch)] + [(f"onnx {p}", lambda p=p: measure_onnx(p)) for p in PRESETS]
    for what, step in steps:
        try:
            row = step()
        except Exception as e:  # noqa: BLE001 -- reported, the bench exits non-zero; the other models still run
            failed[what] = f"{type(e).__name__}: {e}"
            continue
        print(f"{what}: max |{row['framework']} - fpgagen| = {row['max_abs_error']:.2e} ({row['relative']:.1e} of "
              f"the range)" + (f", same QuantizedModel: {row['same_quantized_model']}" if "same_quantized_model" in row
                               else ""), flush=True)
        if row.get("same_quantized_model") is False:
            failed[what] = "the imported model quantizes differently from the preset"
            continue
        checks.append(row)
    try:
        row, seed = measure_keras(not args.no_rtlsim)
        checks.append(row)
        print(f"keras seed: {json.dumps(seed)}", flush=True)
    except Exception as e:  # noqa: BLE001
        failed["keras seed"] = f"{type(e).__name__}: {e}"
    if checks:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps({"measured": measured, "checks": checks, "seed": seed}, indent=1) + "\n")
        write_section("imports", "Importing generators", command(), measured, section(checks, seed))
    return exit_status(failed)


if __name__ == "__main__":
    sys.exit(main())
