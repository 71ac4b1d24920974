"""Multiplier costs with yosys: LUTs of a multiplier built in LUTs, and the extra LUTs of two products packed into one
DSP, per yosys family and width; writes ``core/multiplier_costs.json`` (read by :mod:`fpgagen.core.multipliers`).

Each grid point (family, signed input of ``x`` bits, signed weight of ``w`` bits) synthesizes ``fg_mac_array`` with
PI = 4 inputs x PO = 2 outputs (8 multipliers, an exact accumulator, the result its full width so nothing is pruned)
three times (where the product has at least 9 bits: a narrower one yosys's ``synth_xilinx`` keeps off the DSPs
itself, so there is no DSP baseline and the table has no figure), stage by stage with
:func:`fpgagen.rtl.synth.synthesize_stage` (``synth_xilinx -family <family>``, cached under the cache root):

- ``dsp``: every product on a DSP slice (8 DSPs);
- ``lut``: ``LUT_OUTS = 2``, every product in LUTs (0 DSPs);
- ``packed``: ``PACK = 1``, the two outputs share one DSP per input (4 DSPs), only where
  :func:`fpgagen.core.multipliers.can_pack` says the pair fits the family's DSP.

The accumulators, bias and cast are the same in all three, so the differences are the multipliers':
``lut_multiplier_luts = (LUT(lut) - LUT(dsp)) / 8`` (what a multiplier adds when it leaves its DSP, including its share
of the adder tree that yosys otherwise folds into DSP post-adders) and ``packed_pair_extra_luts = (LUT(packed) -
LUT(dsp)) / 4`` per packed DSP (the packed weight, the split of its result, the sums the DSPs no longer absorb). A
configuration whose DSP count is not 8, 0 or 4 fails the point. A failed point writes nothing and the bench exits 1.

Usage: ``python bench/multiplier_costs.py [--families xc7 xcup] [--x-widths ...] [--w-widths ...] [--jobs N]
[--resynth]``. The default grid covers the presets (9-bit data, 6-8 bit weights) and 4-16 x 2-9 bits; on two cores
with ``--jobs 2`` it took 22 minutes the first time (another job sharing the cores), a second from the cache.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from results_doc import command, exit_status, machine, markdown_table, write_section

from fpgagen.core.errors import ToolNotFoundError
from fpgagen.core.multipliers import (
    COSTS_FILE,
    DSP_PORTS,
    YOSYS_DSP_MIN_PRODUCT_BITS,
    can_pack,
    product_bits,
)
from fpgagen.rtl.synth import native_yosys, synthesize_stage

PI, PO = 4, 2
X_WIDTHS = [4, 6, 8, 9, 10, 12, 16]
W_WIDTHS = [2, 4, 6, 7, 8, 9]
CONFIGS = {"dsp": ({}, PI * PO), "lut": ({"LUT_OUTS": PO}, 0), "packed": ({"PACK": 1}, PI * PO // 2)}


def stage_params(x_w: int, w_w: int, extra: dict) -> dict:
    """fg_mac_array with integer types, an exact accumulator and a result of its full width."""
    acc_w = x_w + w_w + 4
    return {"PI": PI, "PO": PO, "X_W": x_w, "X_F": 0, "X_SIGNED": 1, "W_W": w_w, "W_F": 0, "B_W": 8, "B_F": 0,
            "ACC_W": acc_w, "ACC_F": 0, "OUT_W": acc_w, "OUT_F": 0, "OUT_SIGNED": 1, **extra}


def jobs(families, x_widths, w_widths) -> list[tuple[str, int, int, str]]:
    """Every (family, x, w, config) to synthesize: none where yosys keeps the product off the DSPs anyway (no
    baseline), packed only where the pair fits."""
    return [(f, x, w, c) for f in families for x in x_widths for w in w_widths for c in CONFIGS
            if product_bits(x, True, w) >= YOSYS_DSP_MIN_PRODUCT_BITS
            and (c != "packed" or can_pack(f, x, True, w))]


def measure(job, resynth: bool) -> dict:
    family, x_w, w_w, config = job
    extra, dsps = CONFIGS[config]
    row = synthesize_stage("fg_mac_array", stage_params(x_w, w_w, extra), family, resynth)
    if "error" in row:
        raise RuntimeError(row["error"])
    got = row[DSP_PORTS[family].name]
    if got != dsps or row["unmapped"]:
        raise RuntimeError(f"{config}: {got} DSPs (expected {dsps}), {row['unmapped']} unmapped cells")
    return row


def table(families, x_widths, w_widths, rows: dict) -> dict:
    """The JSON table from the synthesized rows (keyed by job)."""
    out = {"format": "fpgagen-multiplier-costs-1",
           "method": f"yosys synth_xilinx, fg_mac_array PI={PI} PO={PO}, signed x, differences per multiplier "
                     "(bench/multiplier_costs.py)",
           "families": {}}
    for f in families:
        lut, packed, dsp_luts = [], [], []
        for x in x_widths:
            base = [rows[f, x, w, "dsp"]["LUT"] if (f, x, w, "dsp") in rows else None for w in w_widths]
            dsp_luts.append(base)
            lut.append([None if b is None else round((rows[f, x, w, "lut"]["LUT"] - b) / (PI * PO), 1)
                        for w, b in zip(w_widths, base, strict=True)])
            packed.append([round((rows[f, x, w, "packed"]["LUT"] - b) / (PI * PO // 2), 1)
                           if (f, x, w, "packed") in rows else None for w, b in zip(w_widths, base, strict=True)])
        out["families"][f] = {"dsp": DSP_PORTS[f].name, "x_widths": list(x_widths), "w_widths": list(w_widths),
                              "lut_multiplier_luts": lut, "packed_pair_extra_luts": packed,
                              "stage_luts_all_dsp": dsp_luts}
    return out


def section(costs: dict, rows: dict) -> str:
    """docs/results.md: per family, the two figures over the grid, and the DSP counts of the presets' widths."""
    parts = ["`fg_mac_array` with 4 inputs x 2 outputs per cycle (8 multipliers) synthesized three ways per width; "
             "the LUT differences per multiplier (see the bench's docstring). A LUT multiplier: LUTs it adds "
             "leaving its DSP; packed: LUTs a DSP holding two products adds over two plain DSPs. - where the pair "
             "does not fit the DSP, or where the product has under 9 bits (yosys keeps it off the DSPs itself). x is "
             "the signed input's width, w the weight's. yosys folds the product sums into DSP48E1 post-adders on "
             "xc7 (the all-DSP stage's LUTs below are little more than its cast), not into DSP48E2 on xcup, so "
             "xc7's figures carry the adder tree the DSPs would have taken and xcup's mostly do not."]
    for f, entry in costs["families"].items():
        ws = entry["w_widths"]
        for figure, title in (("lut_multiplier_luts", "LUTs per LUT multiplier"),
                              ("packed_pair_extra_luts", "extra LUTs per packed DSP")):
            body = [[x] + ["-" if v is None else f"{v:g}" for v in vals]
                    for x, vals in zip(entry["x_widths"], entry[figure], strict=True)]
            parts.append(f"**{f} ({entry['dsp']}): {title}**\n\n"
                         + markdown_table(["x \\ w", *map(str, ws)], body, align="r" * (len(ws) + 1)))
    presets = [(f, x, w) for f in costs["families"] for x, w in ((9, 6), (9, 7), (9, 8))
               if (f, x, w, "dsp") in rows]
    body = [[f, f"{x} x {w}", rows[f, x, w, "dsp"][DSP_PORTS[f].name],
             rows[f, x, w, "packed"][DSP_PORTS[f].name] if (f, x, w, "packed") in rows else "does not pack",
             rows[f, x, w, "lut"][DSP_PORTS[f].name], rows[f, x, w, "dsp"]["LUT"],
             rows[f, x, w, "packed"]["LUT"] if (f, x, w, "packed") in rows else "-", rows[f, x, w, "lut"]["LUT"]]
            for f, x, w in presets]
    parts.append("**The presets' widths: the whole stage (8 multipliers)**\n\n"
                 + markdown_table(["family", "x x w", "DSP", "DSP packed", "DSP LUT mult.", "LUT", "LUT packed",
                                   "LUT LUT mult."], body))
    return "\n\n".join(parts)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--families", nargs="+", default=list(DSP_PORTS), choices=list(DSP_PORTS),
                    help="yosys families to measure (default all)")
    ap.add_argument("--x-widths", nargs="+", type=int, default=X_WIDTHS, help="signed input widths of the grid")
    ap.add_argument("--w-widths", nargs="+", type=int, default=W_WIDTHS, help="weight widths of the grid")
    ap.add_argument("--jobs", type=int, default=1, help="stages synthesized at once (default 1)")
    ap.add_argument("--resynth", action="store_true", help="synthesize again, even when cached")
    args = ap.parse_args(argv)
    x_widths, w_widths = sorted(set(args.x_widths)), sorted(set(args.w_widths))
    measured = machine()
    try:
        native_yosys()
    except ToolNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    todo = jobs(args.families, x_widths, w_widths)
    started = time.perf_counter()
    rows, failed = {}, {}
    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        futures = {job: pool.submit(measure, job, args.resynth) for job in todo}
        for i, (job, future) in enumerate(futures.items(), 1):
            try:
                rows[job] = future.result()
            except Exception as e:  # noqa: BLE001 -- reported, the bench exits non-zero
                failed["/".join(map(str, job))] = f"{type(e).__name__}: {e}"
                continue
            print(f"[{i}/{len(todo)} {time.perf_counter() - started:5.0f} s] {'/'.join(map(str, job))}: "
                  f"LUT {rows[job]['LUT']}, {DSP_PORTS[job[0]].name} {rows[job][DSP_PORTS[job[0]].name]}", flush=True)
    if failed:
        return exit_status(failed)
    costs = table(args.families, x_widths, w_widths, rows)
    COSTS_FILE.write_text(json.dumps(costs, indent=1) + "\n")
    print(f"wrote {COSTS_FILE}")
    write_section("multiplier_costs", "Multiplier costs: LUT multipliers and packed DSPs (yosys)",
                  command(), measured, section(costs, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
