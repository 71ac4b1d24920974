"""Weights beyond block RAM: where each layer's weights live on each board, the DDR traffic they cost, and the
RTL twin's cycles per image with every stall on weights counted.

For each model and board the model is quantized and folded for that board (:func:`fpgagen.models.quantize.quantize`
with ``board``: placements and reuse factors chosen together, :mod:`fpgagen.core.folding`), its RTL twin generated
(:func:`fpgagen.rtl.generate.generate_rtl`) and run on the rtlsim backend with the harness's DMA and DDR model
(:func:`fpgagen.host.virtual_board.rtlsim_backend.steady_state`: :data:`IMAGES` latents back to back after a reset
that sends every loaded pass, one streamed pass per image; steady state = (cycles of the batch - cycles of one
image) / (batch - 1); every image checked bit for bit against golden). One beat per weight port per cycle, all
ports together at most the board's DDR bandwidth x 0.75 (:data:`fpgagen.overlays.boards.DDR_EFFICIENCY`).

Per model and board it reports: each arithmetic layer's placement, weight bits, bytes read from DDR per image,
multipliers and stage cycles; the compute bound (slowest stage), the DDR bound (streamed bytes over the derated
bandwidth), the measured cycles per image, images/s at 100 MHz against the DSP ceiling (every DSP one MAC per
clock), and the folding's budgets as used: multipliers against DSP slices, block RAM, LUTs (at the board's LUTs per
multiplier), UltraRAM, DDR bandwidth -- the fullest one is what binds the folding.

Models: ``dcgan28`` on every board; ``keras-seed``, the seed document's Keras DCGAN generator
(:mod:`fpgagen.models.keras_seed`, seeded weights, saved as ``.keras`` and imported; the width rule's widths), on the
PYNQ-Z2 and the ZCU104; ``pytorch-dcgan64``, pytorch/examples' own 64x64 RGB DCGAN (nz 100, ngf 64, 3.6 M
parameters; :class:`fpgagen.models.torch_dcgan.DCGAN` with seeded weights and BatchNorm statistics, imported through
the torch front end from a file this bench writes), at 16-bit data and 8-bit weights, on the ZCU104.

With ``--synth`` each design is also synthesized stage by stage with yosys for its board
(:func:`fpgagen.rtl.synth.synthesize_design`: loaded stages with ``-uram`` on UltraScale+, cached per stage) and its
LUT, FF, DSP, BRAM36 and URAM288 set against the board; a row measured without it keeps its earlier synthesis.

With ``--csim`` each model also runs through hls4ml's C simulation (its weight ports fed from the same weights file)
on 8 latents, each image compared with golden bit for bit: the RTL twin's images equal golden too, so golden ==
C-sim == RTL.

Usage: ``python bench/placements.py [--models M ...] [--boards B ...] [--images N] [--synth] [--csim]``; merges its
rows into ``bench/results/placements.json`` (a row per model and board; a run of some replaces theirs) and writes the
``placements`` section of docs/results.md from all of them, once the file holds a row for every run (a partial run on
a fresh checkout leaves the section as it was). A (model, board) whose measurement raises is written to neither, and
the bench exits 1.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from results_doc import command, exit_status, machine, markdown_table, write_section

from fpgagen.core.folding import input_bits, stage_cost, streamed_lanes
from fpgagen.core.layers import ARITHMETIC
from fpgagen.models.load import load_model
from fpgagen.overlays.boards import get_board
from fpgagen.rtl.generate import dsp_limit_images_per_s, generate_rtl

RESULTS = Path(__file__).resolve().parent / "results" / "placements.json"
WORK = Path(__file__).resolve().parent / "results" / "placements"  # generated RTL
CLOCK_HZ = 100e6
IMAGES = 4
BOARDS = ("pynq-z2", "zcu104", "kv260", "zcu102")
RUNS = (*(("dcgan28", board) for board in BOARDS), ("keras-seed", "pynq-z2"), ("keras-seed", "zcu104"),
        ("pytorch-dcgan64", "zcu104"))
PYTORCH_DCGAN64 = '''
from fpgagen.models.torch_dcgan import DCGAN


def make():
    return DCGAN(size=64)  # pytorch/examples' generator: nz 100, ngf 64, RGB 64x64
'''


def generator_and_config(name: str):
    """(Generator, QuantConfig or None) of a model this bench runs."""
    if name == "keras-seed":
        from fpgagen.models.keras_seed import save_generator

        WORK.mkdir(parents=True, exist_ok=True)
        return load_model(str(save_generator(WORK / "seed_dcgan.keras", seed=0))), None
    if name != "pytorch-dcgan64":
        return load_model(name), None
    import torch
    from safetensors.torch import save_file

    from fpgagen.core.quantize import QuantConfig
    from fpgagen.models.torch_dcgan import DCGAN, with_batchnorm_statistics

    folder = WORK / "pytorch_dcgan64"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dcgan64.py").write_text(PYTORCH_DCGAN64)
    torch.manual_seed(0)
    save_file(with_batchnorm_statistics(DCGAN(size=64), 100).state_dict(), str(folder / "dcgan64.safetensors"))
    generator = load_model(f"{folder / 'dcgan64.py'}:make", folder / "dcgan64.safetensors")
    return generator, QuantConfig(data_width=16, weight_width=8)


def budget_use(model, board) -> dict[str, float]:
    """The folding's budgets as the chosen folding uses them, each as a share of the budget (the resources
    :meth:`fpgagen.overlays.boards.Board.folding_budget` sets): the largest is what binds."""
    budget = board.folding_budget()
    lanes, x_bits = streamed_lanes(model.layers), input_bits(model.layers)
    costs = [stage_cost(lr, lr.reuse_factor, lanes.get(lr.name), budget.lut_per_multiplier, lr.placement,
                        budget.ports, budget.uram is not None, x_bits[lr.name])
             for lr in model.layers if lr.kind in ARITHMETIC]
    bound = max(c.cycles for c in costs)
    use = {"DSP": sum(c.multipliers for c in costs) / budget.multipliers}
    if budget.bram36:
        use["BRAM"] = sum(c.bram36 for c in costs) / budget.bram36
    if budget.lut:
        use["LUT"] = sum(c.lut for c in costs) / budget.lut
    if budget.uram:
        use["URAM"] = sum(c.uram for c in costs) / budget.uram
    if budget.ports is not None and any(c.stream_bits for c in costs):
        use["DDR"] = sum(c.stream_bits for c in costs) / (budget.ports.ddr_bits_per_cycle * bound)
    return use


CSIM_LATENTS = 8


def csim_agrees(model, distribution: str) -> int:
    """hls4ml's C simulation of ``model`` (its weight ports fed from the same weights file the RTL twin reads,
    :func:`fpgagen.core.weights_file.weight_image`) on :data:`CSIM_LATENTS` latents: how many images equal golden bit
    for bit (the RTL twin's do too, so golden == C-sim == RTL on those)."""
    import numpy as np

    from fpgagen.core import golden
    from fpgagen.core.latents import latents
    from fpgagen.core.weights_file import weight_image
    from fpgagen.hls.csim import CSimExecutor

    z = latents(CSIM_LATENTS, model.latent_dim, seed=21, distribution=distribution)
    got = CSimExecutor(model, weights=weight_image(model)[0]).prepare().run(z)
    want = golden.generate(model, z)
    return int(sum(np.array_equal(g, w) for g, w in zip(got, want, strict=True)))


def measure(model_name: str, board_name: str, images: int, synth: bool = False, csim: bool = False) -> dict:
    """One (model, board): placements, bounds, measured cycles per image (see the module docstring)."""
    from fpgagen.host.virtual_board.rtlsim_backend import steady_state
    from fpgagen.models.quantize import quantize

    board = get_board(board_name)
    if board.fabric_clock_mhz * 1e6 != CLOCK_HZ:
        raise ValueError(f"{board_name} clocks the fabric at {board.fabric_clock_mhz} MHz; this bench projects at "
                         f"{CLOCK_HZ / 1e6:.0f} MHz")
    generator, config = generator_and_config(model_name)
    model = quantize(generator, config, board=board_name)
    design = generate_rtl(model, WORK / f"{generator.name}-{board_name}" / "rtl")
    streams = {ws.layer: ws for ws in design.weight_streams}
    stage_of = {s.layer: s for s in design.stages}
    layers = []
    for lr in model.layers:
        if lr.kind not in ARITHMETIC:
            continue
        ws = streams.get(lr.name)
        layers.append({"layer": lr.name, "kind": lr.kind, "placement": lr.placement,
                       "weight_bits": int(lr.weight.size * lr.weight_t.width),
                       "ddr_bytes_per_image": ws.nbytes if ws and ws.placement == "streamed" else 0,
                       "loaded_bytes": ws.nbytes if ws and ws.placement == "loaded" else 0,
                       "multipliers": stage_of[lr.name].multipliers,
                       "stage_cycles": stage_of[lr.name].cycles_per_image})
    t0 = time.perf_counter()
    run = steady_state(model, images)
    wall = time.perf_counter() - t0
    compute = max(s.cycles_per_image for s in design.stages)
    ddr_bytes = sum(row["ddr_bytes_per_image"] for row in layers)
    use = budget_use(model, board)
    per_s = CLOCK_HZ / run.cycles_per_image
    resources = None
    if synth:
        from fpgagen.rtl.synth import synthesize_design

        result = synthesize_design(design, board, report=lambda name, row: print(f"  {name:22s} {row}", flush=True))
        if result["failed_stages"]:
            raise RuntimeError(f"yosys failed on {', '.join(result['failed_stages'])}")
        resources = {"total": result["total"], "utilisation": result["utilisation"], "budget": result["budget"],
                     "dsp_primitive": board.dsp_primitive}
    ceiling = dsp_limit_images_per_s(model, board.dsp, CLOCK_HZ)
    return {"model": model_name, "board": board_name, "layers": layers, "weight_port_bits": design.weight_beat_bits,
            "compute_bound_cycles": compute, "ddr_bound_cycles": design.ddr_cycles,
            "measured_cycles_per_image": run.cycles_per_image, "images_per_s_100mhz": per_s,
            "dsp_ceiling_images_per_s": ceiling, "share_of_ceiling": per_s / ceiling,
            "ddr_mb_per_image": ddr_bytes / 1e6, "ddr_mb_s": ddr_bytes * per_s / 1e6,
            "ddr_mb_s_derated": board.ddr_mb_s, "multipliers": design.multipliers, "dsp": board.dsp, "budget_use": use,
            "binds": max(use, key=use.get), "bit_exact_images": run.images, "wall_s": wall, "synth": resources,
            "csim_bit_exact": f"{csim_agrees(model, generator.spec.latents)} of {CSIM_LATENTS}" if csim else None}


def write_doc(results: list[dict], measured: dict) -> None:
    summary = [[r["model"], r["board"], f"{r['measured_cycles_per_image']:,.0f}", f"{r['compute_bound_cycles']:,}",
                f"{r['ddr_bound_cycles']:,}" if r["ddr_bound_cycles"] else "-", f"{r['images_per_s_100mhz']:,.0f}",
                f"{r['dsp_ceiling_images_per_s']:,.0f}", f"{r['share_of_ceiling']:.0%}",
                f"{r['ddr_mb_s']:,.0f} / {r['ddr_mb_s_derated']:,.0f}" if r["ddr_mb_per_image"] else "-",
                f"{r['multipliers']:,} / {r['dsp']:,}",
                ", ".join(f"{k} {v:.0%}" for k, v in r["budget_use"].items()), r["binds"],
                r.get("csim_bit_exact") or "-"] for r in results]
    synthesized = [r for r in results if r.get("synth")]
    def used(r: dict, key: str) -> str:
        return f"{r['synth']['total'].get(key, 0):,.0f} ({r['synth']['utilisation'].get(key, 0):.0%})"

    resources = [[r["model"], r["board"], *(used(r, k) for k in ("LUT", "FF", r["synth"]["dsp_primitive"], "BRAM36",
                                                                  "URAM288"))] for r in synthesized]
    body = [markdown_table(["model", "board", "cycles/image", "compute bound", "DDR bound", "images/s",
                            "DSP ceiling", "share", "DDR MB/s (used / derated)", "multipliers / DSP",
                            "folding budgets used", "binds", "C-sim == golden"], summary, align="llrrrrrrrrllr")]
    if resources:
        body.append("Resources (yosys, stage by stage, `synth_xilinx` for the board's family, loaded weights with "
                    "`-uram` where the board has UltraRAM; share of the board in brackets):\n\n"
                    + markdown_table(["model", "board", "LUT", "FF", "DSP", "BRAM36", "URAM288"], resources))
    for r in results:
        rows = [[row["layer"], row["kind"], row["placement"], f"{row['weight_bits'] / 1e6:.2f}",
                 f"{row['ddr_bytes_per_image'] / 1e6:.2f}" if row["ddr_bytes_per_image"] else "-",
                 f"{row['loaded_bytes'] / 1e6:.2f}" if row["loaded_bytes"] else "-", f"{row['multipliers']:,}",
                 f"{row['stage_cycles']:,}"] for row in r["layers"]]
        body.append(f"**{r['model']} on {r['board']}** ({r['weight_port_bits'] or 'no'}-bit weight ports):\n\n"
                    + markdown_table(["layer", "kind", "placement", "weight Mbit", "DDR MB per image",
                                      "loaded MB (once)", "multipliers", "stage cycles"], rows, align="lllrrrrr"))
    body.append("Cycles per image: the RTL twin on the rtlsim backend with the DMA/DDR model, images back to back, "
                "each equal to golden bit for bit; images/s at 100 MHz. C-sim == golden: hls4ml's C simulation of the "
                "same model, its weight ports fed from the same weights file, on 8 latents (`--csim`). DSP ceiling: "
                "every DSP slice one MAC per "
                "clock. Folding budgets: the chosen folding's multipliers, block RAM, LUTs, UltraRAM and DDR "
                "bandwidth against the budgets of the board (80% of each); the fullest binds. Rows merge across runs "
                "of this bench (`bench/results/placements.json`): the command above is the last run's, and a row "
                "keeps the figures of the run that measured it.")
    write_section("placements", "Weights beyond block RAM: placements, DDR traffic and cycles per board", command(),
                  measured, "\n\n".join(body))


def merged(new: list[dict]) -> list[dict]:
    """The rows of earlier runs (``RESULTS``) with ``new`` in place of theirs, in :data:`RUNS` order."""
    rows = {}
    if RESULTS.is_file():
        rows = {(r["model"], r["board"]): r for r in json.loads(RESULTS.read_text()).get("results", [])}
    for r in new:  # a row measured without --synth or --csim keeps those of its design, if the design is the same
        old = rows.get((r["model"], r["board"]))
        for key in ("synth", "csim_bit_exact"):
            if not r.get(key) and old and old.get(key) and old["layers"] == r["layers"]:
                r[key] = old[key]
        rows[r["model"], r["board"]] = r
    order = {run: i for i, run in enumerate(RUNS)}
    return sorted(rows.values(), key=lambda r: order.get((r["model"], r["board"]), len(order)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", help="only these models (default: every run's)")
    parser.add_argument("--boards", nargs="+", help="only these boards (default: every run's)")
    parser.add_argument("--images", type=int, default=IMAGES, help="latents back to back (>= 2)")
    parser.add_argument("--synth", action="store_true", help="also synthesize each design with yosys (minutes per "
                                                             "stage the first time; cached)")
    parser.add_argument("--csim", action="store_true", help=f"also run hls4ml's C simulation on {CSIM_LATENTS} "
                                                            "latents against golden (about a minute per model)")
    args = parser.parse_args(argv)
    measured = machine()
    results, failed = [], {}
    for model_name, board_name in RUNS:
        if (args.models and model_name not in args.models) or (args.boards and board_name not in args.boards):
            continue
        try:
            row = measure(model_name, board_name, args.images, args.synth, args.csim)
        except Exception as e:  # noqa: BLE001 -- reported, written nowhere, exit 1
            failed[f"{model_name} on {board_name}"] = f"{type(e).__name__}: {e}"
            continue
        print(f"{model_name} {board_name}: {row['measured_cycles_per_image']:,.0f} cycles/image "
              f"({row['images_per_s_100mhz']:,.0f}/s, {row['share_of_ceiling']:.0%} of the DSP ceiling), binds "
              f"{row['binds']}", flush=True)
        results.append(row)
    if results:
        results = merged(results)
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps({"measured": measured, "results": results}, indent=1) + "\n")
        have = {(r["model"], r["board"]) for r in results}
        missing = [f"{m} on {b}" for m, b in RUNS if (m, b) not in have]
        if missing:  # the section shows every run: rewriting it from some would drop the others' figures
            print(f"docs/results.md not rewritten: {RESULTS} has no row for {', '.join(missing)} (run them: "
                  "`python bench/placements.py --synth` measures every row)", file=sys.stderr)
        else:
            write_doc(results, measured)
    return exit_status(failed)


if __name__ == "__main__":
    sys.exit(main())
