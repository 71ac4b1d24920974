"""Soak: thousands of images through the PYNQ driver and the RTL twin on the virtual board, with random stalls on
both streams and a fault injected every few hundred images, recovered from with ``reset()``.

    .venv/bin/python bench/soak.py [--images digits8=10000 mnist28=1000 digits8:placed=3000] [--fault-every 300]
                                   [--stalls 0.2]

Per preset: the preset's QuantizedModel behind a virtual overlay whose kernel is the Verilator build of its RTL
twin, the input stream idling (TVALID low) and the output stream held (TREADY low) on a random ``--stalls`` share of
cycles. Calls of random batch sizes run until the images are made; every ``--fault-every`` images or so one call
gets a random fault of :mod:`fpgagen.host.virtual_board.faults` (a stall of either stream mid-batch, a kernel slower
than the timeout, each DMA error bit, a dropped or an extra TLAST). ``PRESET:placed`` runs the preset with its
weights off the ROMs (:func:`placed`: its dense streamed from DDR, every other arithmetic layer loaded, behind the
PYNQ-Z2's weight ports), so the weight DMAs run too and one more fault joins the round: the weight ports stalling
part way through a call's streamed passes. That call must fail with the driver's error, the
next must be refused until ``reset()``, and after the reset the batch is made again. Every image is compared with
the golden model's.

Reported: images made, images lost (a batch that never came back), images wrong (not bit-exact with golden), hangs
(a call that neither returned nor raised within ten timeouts), faults injected and caught, wall time. The target is
0 lost, 0 wrong, 0 hangs, every fault caught. Writes ``bench/results/soak.json`` and docs/results.md's section
``soak``; exits 1 when the target is missed or a preset fails.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from results_doc import command, exit_status, machine, markdown_table, write_section

RESULTS = Path(__file__).resolve().parent / "results" / "soak.json"
TIMEOUT_S = {"digits8": 1.0, "mnist28": 6.0}  # the driver's DMA timeout: a batch takes well under it
MAX_BATCH = {"digits8": 32, "mnist28": 6}
FAULT_KINDS = ("stall_input", "stall_output", "slow", "dma_error", "drop_tlast", "extra_tlast")
WEIGHT_FAULT_KINDS = (*FAULT_KINDS, "stall_weights")  # with weights off the ROMs


def placed(model):
    """``model`` with its dense streamed from DDR and every other arithmetic layer loaded, behind the PYNQ-Z2's
    weight ports (so every weight DMA of the driver and the virtual board is exercised)."""
    import copy

    from fpgagen.overlays.boards import get_board

    placed = copy.deepcopy(model)
    for lr in placed.layers:
        if lr.weight is not None:
            lr.placement = "streamed" if lr.kind == "dense" else "loaded"
    placed.weight_ports = get_board("pynq-z2").ports
    placed.validate()
    return placed
DMA_ERRORS = ("mm2s:internal", "mm2s:slave", "mm2s:decode", "s2mm:internal", "s2mm:slave", "s2mm:decode")


def a_fault(kind: str, rng, batch: int, latent_dim: int, image_beats: int, timeout: float,
            streamed_bytes: int = 0) -> dict:
    """The faults of ``kind`` for a call of ``batch`` latents, hitting that call (``streamed_bytes``: weight bytes
    streamed per image)."""
    if kind == "stall_weights":
        return {"stall_weights_after": int(rng.integers(0, batch * streamed_bytes))}
    if kind == "stall_input":
        return {"stall_input_after": int(rng.integers(0, batch * latent_dim))}
    if kind == "stall_output":
        return {"stall_output_after": int(rng.integers(0, batch * image_beats))}
    if kind == "slow":
        return {"slow": timeout + 0.3}
    if kind == "dma_error":
        return {"dma_error": str(rng.choice(DMA_ERRORS))}
    if kind == "drop_tlast":
        return {"drop_tlast": batch}  # TLAST ends a transfer's last image only
    return {"extra_tlast": int(rng.integers(1, batch + 1))}


def call(fn, limit_s: float):
    """``fn()`` in a thread: ("ok", value), ("error", exception) or ("hang", None) after ``limit_s``."""
    box: dict = {}

    def run():
        try:
            box["value"] = fn()
        except Exception as e:  # noqa: BLE001 -- returned to the caller, who judges it
            box["error"] = e

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(limit_s)
    if thread.is_alive():
        return "hang", None
    return ("error", box["error"]) if "error" in box else ("ok", box["value"])


def soak(preset: str, images: int, fault_every: int, stalls: float, seed: int, off_rom: bool = False) -> dict:
    from fpgagen.core import golden
    from fpgagen.host import virtual_board as vb
    from fpgagen.host.driver import DmaError, DmaTimeoutError, GeneratorOverlay, OverlayFaultError
    from fpgagen.models.presets import load_preset
    from fpgagen.models.quantize import quantize

    model = quantize(load_preset(preset))
    if off_rom:
        model = placed(model)
    kinds = WEIGHT_FAULT_KINDS if off_rom else FAULT_KINDS
    timeout, max_batch = TIMEOUT_S[preset], MAX_BATCH[preset]
    latent_dim, image_beats = model.latent_dim, int(np.prod(model.image_shape))
    rng = np.random.default_rng(seed)
    folder = Path(tempfile.mkdtemp(prefix=f"fpgagen-soak-{preset}-"))
    bit = vb.write_virtual_overlay(model, folder, backend="rtlsim",
                                   options={"idle": stalls, "backpressure": stalls, "seed": seed + 1})
    board = vb.activate(vb.VirtualBoard())
    overlay = GeneratorOverlay(str(bit), timeout=timeout)
    weights = overlay.manifest.weights
    streamed_bytes = sum(p.nbytes for p in weights.ports if p.placement == "streamed") if weights else 0
    r = {"preset": preset + (":placed" if off_rom else ""), "images": 0, "lost": 0, "wrong": 0, "hangs": 0,
         "calls": 0, "faults": 0, "caught": 0, "refused_after": 0, "by_kind": {k: 0 for k in kinds}, "uncaught": [],
         "timeout_s": timeout, "stalls": stalls, "seed": seed}
    limit = 10 * timeout + 5
    since_fault = 0
    start = time.perf_counter()
    while r["images"] < images:
        b = int(min(rng.integers(1, max_batch + 1), images - r["images"]))
        z = rng.standard_normal((b, latent_dim)).astype(np.float32)
        if since_fault >= fault_every:
            since_fault = 0
            kind = kinds[r["faults"] % len(kinds)]
            faults = a_fault(kind, rng, b, latent_dim, image_beats, timeout, streamed_bytes)
            board.faults = faults
            r["faults"] += 1
            r["by_kind"][kind] += 1
            outcome, value = call(lambda z=z: overlay.generate(z), limit)
            r["calls"] += 1
            if outcome == "hang":
                r["hangs"] += 1
                break
            if outcome == "error" and isinstance(value, DmaError | DmaTimeoutError):
                r["caught"] += 1
                refused = call(lambda z=z: overlay.generate(z), limit)
                r["refused_after"] += refused[0] == "error" and isinstance(refused[1], OverlayFaultError)
            else:
                r["uncaught"].append({"faults": faults, "outcome": outcome if outcome == "ok" else repr(value)})
            board.faults = None
            overlay.reset()
        outcome, value = call(lambda z=z: overlay.generate(z), limit)
        r["calls"] += 1
        if outcome == "hang":
            r["hangs"] += 1
            break
        if outcome == "error":
            r["lost"] += b
            r.setdefault("errors", []).append(repr(value))
            overlay.reset()
            continue
        want = golden.generate(model, z.astype(np.float64))
        r["wrong"] += int((value.reshape(b, -1).view(np.uint32) != want.reshape(b, -1).view(np.uint32)).any(1).sum())
        r["images"] += b
        since_fault += b
    r["wall_s"] = time.perf_counter() - start
    r["images_per_s"] = r["images"] / r["wall_s"]
    r["kernel_cycles"] = board.kernel_cycles
    overlay.generator.close()
    return r


def section(rows: list[dict]) -> str:
    table = [[f"`{r['preset']}`", f"{r['images']:,}", r["lost"], r["wrong"], r["hangs"],
              f"{r['caught']} of {r['faults']}", f"{r['refused_after']} of {r['caught']}", f"{r['calls']:,}",
              f"{r['wall_s']:.0f}", f"{r['images_per_s']:.0f}"] for r in rows]
    kinds = ", ".join(f"{k} {n}" for k, n in rows[-1]["by_kind"].items()) if rows else ""
    return (f"The PYNQ driver on the virtual board, the kernel the Verilator build of the RTL twin, both streams "
            f"stalled at random ({rows[0]['stalls']:.0%} of cycles each), random batch sizes, a fault every "
            f"~{rows[0].get('fault_every', 0)} images ({kinds} in the last row), each recovered from with "
            "`reset()` and its batch made again. `:placed`: the preset's dense streamed from DDR and its other "
            "layers loaded, through the weight DMAs. *refused after* counts the faults after which the next call was "
            "refused until the reset (no stale image can come back).\n\n"
            + markdown_table(["preset", "images", "lost", "wrong", "hangs", "faults caught", "refused after",
                              "calls", "wall s", "images/s"], table))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", nargs="+", default=["digits8=10000", "mnist28=1000", "digits8:placed=3000"],
                        metavar="PRESET[:placed]=N")
    parser.add_argument("--fault-every", type=int, default=300, help="images between faults (default 300)")
    parser.add_argument("--stalls", type=float, default=0.2, help="share of cycles each stream stalls (default 0.2)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    measured = machine()
    rows, failed = [], {}
    for item in args.images:
        name, _, n = item.partition("=")
        preset, _, how = name.partition(":")
        try:
            if how not in ("", "placed"):
                raise ValueError(f"{item}: PRESET=N or PRESET:placed=N")
            r = soak(preset, int(n), args.fault_every, args.stalls, args.seed, off_rom=how == "placed")
        except Exception as e:  # noqa: BLE001 -- reported, the bench exits non-zero
            failed[name] = f"{type(e).__name__}: {e}"
            continue
        r["fault_every"] = args.fault_every
        print(json.dumps({k: v for k, v in r.items() if k != "errors"}), flush=True)
        missed = {k: r[k] for k in ("lost", "wrong", "hangs") if r[k]}
        if missed or r["caught"] != r["faults"] or r["refused_after"] != r["caught"]:
            failed[name] = (f"target missed: {missed}, faults caught {r['caught']} of {r['faults']}, refused after "
                              f"{r['refused_after']}; uncaught {r['uncaught'][:3]}, errors {r.get('errors', [])[:3]}")
        rows.append(r)
    if rows:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps({"measured": measured, "rows": rows}, indent=1) + "\n")
        if not failed:
            write_section("soak", "Soak: faults and stalls on the virtual board", command(), measured, section(rows))
    return exit_status(failed, note="")


if __name__ == "__main__":
    sys.exit(main())
