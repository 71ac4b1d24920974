"""The two kernels side by side: hls4ml's folding (one multiplier per DSP slice; the RTL twin follows it) against the
RTL kernel's own (``--kernel rtl``: any PI x PO split, two products per DSP slice where the operands fit, multipliers
in LUTs where the DSP slices run out), per preset on its board, against the board's 1-MAC-per-DSP ceiling.

For each (model, board) row and each kernel: :func:`fpgagen.models.quantize.quantize` folds the model for that board
and kernel, :func:`fpgagen.rtl.generate.generate_rtl` writes the RTL, and the rtlsim backend measures steady-state
cycles per image (:func:`fpgagen.host.virtual_board.rtlsim_backend.steady_state`: 8 latents back to back minus one
latent, every image checked bit for bit against golden). Projected images/s = 100 MHz / measured cycles; the ceiling
is every DSP slice of the board doing one MAC per clock (:func:`fpgagen.rtl.generate.dsp_limit_images_per_s`). With
``--synth``, yosys maps every stage and FIFO for the board's family (:func:`fpgagen.rtl.synth.synthesize_design`,
cached per stage): DSP, LUT, BRAM36 and FF against the board, the fit the targets ask for (DSP within the board,
LUT and BRAM36 within UG949's 80%).

Targets (issue 22, the RTL kernel): mnist28 on the PYNQ-Z2 >= 2x the ceiling, digits8 on the PYNQ-Z2 >= 1.5x,
dcgan28 on the ZCU102 >= 1.3x with LUT <= 80%.

Usage: ``python bench/kernels.py [--rows mnist28:pynq-z2 ...] [--synth]``; rows in ``bench/results/kernels.json``;
docs/results.md section ``kernels`` (rewritten when every default row is in the file). A row whose measurement raises
is not written, and the bench exits 1.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from results_doc import command, exit_status, machine, markdown_table, write_section

from fpgagen.core.errors import ToolNotFoundError
from fpgagen.overlays.boards import UG949_GUIDELINE, get_board

RESULTS = Path(__file__).resolve().parent / "results" / "kernels.json"
WORK = Path(__file__).resolve().parent / "results" / "kernels"  # generated RTL
CLOCK_HZ = 100e6
ROWS = ("mnist28:pynq-z2", "digits8:pynq-z2", "dcgan28:zcu102")
GOALS = {"mnist28:pynq-z2": 2.0, "digits8:pynq-z2": 1.5, "dcgan28:zcu102": 1.3}  # x the ceiling, RTL kernel
KERNELS = ("hls", "rtl")


def measure(row: str, kernel: str, synth: bool) -> dict:
    """One kernel of one (model, board) row: folding, rtlsim cycles (bit-exact), and yosys resources with ``synth``."""
    from fpgagen.host.virtual_board.rtlsim_backend import steady_state
    from fpgagen.models.load import load_model
    from fpgagen.models.quantize import quantize
    from fpgagen.rtl.generate import dsp_limit_images_per_s, generate_rtl
    from fpgagen.rtl.synth import synthesize_design

    name, board_name = row.split(":")
    board = get_board(board_name)
    if board.fabric_clock_mhz * 1e6 != CLOCK_HZ:
        raise ValueError(f"{board.name} clocks the fabric at {board.fabric_clock_mhz} MHz; this bench projects at 100")
    t0 = time.perf_counter()
    model = quantize(load_model(name), board=board.name, kernel=kernel)
    design = generate_rtl(model, WORK / f"{name}-{board.name}-{kernel}")
    s = steady_state(model, 8)
    ceiling = dsp_limit_images_per_s(model, board.dsp, CLOCK_HZ)
    result = {
        "row": row, "model": name, "board": board.name, "kernel": kernel,
        "multipliers": design.multipliers, "dsp_slices": design.dsps,
        "lut_multipliers": sum(st.lut_multipliers for st in design.stages),
        "stages": [{"name": st.name, "multipliers": st.multipliers, "dsps": st.dsps,
                    "lut_multipliers": st.lut_multipliers, "cycles": st.cycles_per_image,
                    "mac": (model.layer(st.layer).mac.to_json() if st.layer and model.layer(st.layer).mac else None)}
                   for st in design.stages if st.multipliers],
        "bound_cycles": design.bound_cycles, "measured_cycles": s.cycles_per_image,
        "images_per_s": CLOCK_HZ / s.cycles_per_image, "ceiling_images_per_s": ceiling,
        "of_ceiling": CLOCK_HZ / s.cycles_per_image / ceiling, "rtlsim_s": round(time.perf_counter() - t0, 1),
    }
    if synth:
        syn = synthesize_design(design, board)
        if syn["failed_stages"]:
            raise RuntimeError(f"yosys failed on {', '.join(syn['failed_stages'])}")
        total = syn["total"]
        result["yosys"] = {k: total.get(k, 0) for k in ("DSP", "LUT", "BRAM36", "FF", "URAM288")}
        result["yosys"]["DSP"] = total.get(board.dsp_primitive, 0)
        result["utilisation"] = {k: v for k, v in syn["utilisation"].items()}
        result["synth_s"] = total.get("seconds", 0)
    return result


def fits(r: dict) -> str:
    """The fit the targets ask for: DSP within the board, LUT and BRAM36 within UG949's 80% (yosys)."""
    if "utilisation" not in r:
        return "not synthesized"
    u = r["utilisation"]
    dsp_key = next(k for k in u if k.startswith("DSP"))
    over = [k for k, limit in ((dsp_key, 1.0), ("LUT", UG949_GUIDELINE), ("BRAM36", UG949_GUIDELINE))
            if u.get(k, 0) > limit]
    return "fits" if not over else "over: " + ", ".join(over)


def section(rows: dict[str, dict]) -> str:
    table = []
    for key in sorted(rows, key=lambda k: (ROWS.index(k.rsplit(":", 1)[0]) if k.rsplit(":", 1)[0] in ROWS else 99, k)):
        r = rows[key]
        y = r.get("yosys")
        u = r.get("utilisation", {})
        res = (f"{y['DSP']:,.0f} DSP, {y['LUT']:,.0f} LUT ({u.get('LUT', 0):.0%}), {y['BRAM36']:,.1f} BRAM36 "
               f"({u.get('BRAM36', 0):.0%}), {y['FF']:,.0f} FF" if y else "-")
        goal = GOALS.get(r["row"]) if r["kernel"] == "rtl" else None
        verdict = ("-" if goal is None else
                   f"{'met' if r['of_ceiling'] >= goal and fits(r) == 'fits' else 'missed'} (>= {goal}x, "
                   f"{fits(r)})")
        table.append([r["model"], r["board"], r["kernel"], f"{r['multipliers']:,d}", f"{r['dsp_slices']:,d}",
                      f"{r['lut_multipliers']:,d}", f"{r['measured_cycles']:,.0f} ({r['bound_cycles']:,d})",
                      f"{r['images_per_s']:,.0f}", f"{r['ceiling_images_per_s']:,.0f}", f"{r['of_ceiling']:.2f}x",
                      res, verdict])
    return ("Both kernels per preset on its board. hls: hls4ml's folding, one multiplier per DSP slice (the RTL twin "
            "simulates it cycle for cycle); rtl: the RTL kernel's own folding, two products per DSP slice where the "
            "operands fit, multipliers in LUTs where the slices run out. Cycles per image measured on the rtlsim "
            "backend (8 latents back to back minus one, every image bit-exact with golden), bound in brackets; "
            "projected at 100 MHz. Ceiling: every DSP slice doing one MAC per clock. Resources: yosys "
            "`synth_xilinx` stage by stage for the board's family, before place and route (fit: DSP within the "
            "board, LUT and BRAM36 within UG949's 80%).\n\n"
            + markdown_table(["model", "board", "kernel", "multipliers", "DSP slices", "LUT multipliers",
                              "cycles/image (bound)", "images/s", "1-MAC/DSP ceiling", "of ceiling",
                              "yosys", "target"], table, align="lllrrrrrrrll"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", nargs="+", default=list(ROWS), metavar="MODEL:BOARD",
                    help=f"(model, board) rows (default {' '.join(ROWS)})")
    ap.add_argument("--kernels", nargs="+", choices=KERNELS, default=list(KERNELS), help="default: both")
    ap.add_argument("--synth", action="store_true", help="also estimate resources with yosys (minutes per design)")
    args = ap.parse_args(argv)
    try:
        for row in args.rows:
            name, _, board = row.partition(":")
            if not name or not board:
                raise ValueError(f"a row is MODEL:BOARD, got {row!r}")
            get_board(board)
        if args.synth:
            from fpgagen.rtl.synth import native_yosys

            native_yosys()
    except (ToolNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    measured = machine()
    try:
        results = json.loads(RESULTS.read_text())
    except (OSError, ValueError):
        results = {}
    failed = {}
    for row in args.rows:
        for kernel in args.kernels:
            try:
                r = measure(row, kernel, args.synth)
            except Exception as e:  # noqa: BLE001 -- reported, the bench exits non-zero; the other rows still run
                failed[f"{row} {kernel}"] = f"{type(e).__name__}: {e}"
                print(f"{row} {kernel}: FAILED {type(e).__name__}: {e}", flush=True)
                continue
            key = f"{row}:{kernel}"
            old = results.get(key, {})
            if not args.synth and "yosys" in old and old.get("stages") == r["stages"]:
                r = {**r, **{k: old[k] for k in ("yosys", "utilisation", "synth_s")}}  # the same design's synthesis
            results[key] = {**r, "measured": measured}
            print(f"{row:18s} {kernel}: {r['multipliers']:5d} multipliers, {r['dsp_slices']:5d} DSP, "
                  f"{r['lut_multipliers']:4d} LUT x, {r['measured_cycles']:9.1f} cycles ({r['bound_cycles']}), "
                  f"{r['images_per_s']:9.0f} images/s = {r['of_ceiling']:.2f}x ceiling; {fits(r)}", flush=True)
            RESULTS.parent.mkdir(parents=True, exist_ok=True)
            RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    if all(f"{row}:{k}" in results for row in ROWS for k in KERNELS):
        write_section("kernels", "The hls and RTL kernels against the 1-MAC-per-DSP ceiling",
                      command([__file__, "--synth"]), measured, section(results))
    return exit_status(failed)


if __name__ == "__main__":
    sys.exit(main())
