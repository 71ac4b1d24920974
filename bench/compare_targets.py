"""CPU against FPGA, per preset: ``fpgagen compare``'s measurement, written to docs/results.md.

    .venv/bin/python bench/compare_targets.py [PRESET ...] [--targets T ...] [--batches 1 16 64] [--repeats 5]
        [--n-quality N] [--torch-threads N] [--may-skip cuda board]

For each preset :func:`fpgagen.host.compare.compare` runs every target on the same latents (latency, throughput,
accuracy against float, quality; the RTL twin's simulated cycles projected to the board's clock), and
:func:`fpgagen.host.report.write_report` writes its report (``compare.json``, ``table.txt``, plots) under
``bench/results/compare/<preset>/``. docs/results.md's section ``compare_targets/<preset>`` (``.../<preset>-gpu``
where the ``cuda`` target ran, so a GPU machine's figures sit beside a CPU machine's) is rendered from the same
result with :func:`fpgagen.host.report.tables`.

A target that needs hardware this machine may lack (``--may-skip``: by default ``cuda`` and ``board``) is listed as
skipped with the reason, as ``fpgagen compare`` does. Any other target that does not run (a C simulation that does
not compile, rtlsim without Verilator) fails the preset: its report and section are not written, and the bench
exits 1 once the other presets are done.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from results_doc import command, exit_status, machine, markdown_table, write_section

from fpgagen.host.compare import compare, default_targets
from fpgagen.host.report import headline, notes, skipped_targets, tables, write_report
from fpgagen.host.subject import resolve_subject

OUT = Path(__file__).resolve().parent / "results" / "compare"
MAY_SKIP = ["cuda", "board"]  # targets that need hardware a workstation may lack


def section(result: dict) -> str:
    """docs/results.md's markdown of one comparison: its tables, notes and skipped targets."""
    env = result["environment"]
    versions = ", ".join(f"{k} {env[v]}" for k, v in (("torch", "torch_version"), ("numpy", "numpy_version"))
                         if env.get(v))
    parts = [f"{headline(result)}; {versions}."]
    for table in tables(result):
        names = [name for name, _ in table.columns]
        parts += [f"**{table.title}**",
                  markdown_table(names, table.rows, "".join("l" if n in ("target", "what") else "r" for n in names))]
        if table.footnotes:
            parts.append("\n".join(f"{line}." if not line.endswith(".") else line for line in table.footnotes))
    if notes(result):
        parts.append("Notes:\n\n" + "\n".join(f"- {line}" for line in notes(result)))
    if skipped_targets(result):
        parts.append("Skipped (cannot run here):\n\n"
                     + "\n".join(f"- {k}: {v}" for k, v in skipped_targets(result).items()))
    return "\n\n".join(parts)


def reproduce(args: argparse.Namespace, preset: str) -> list[str]:
    """The argv that measures ``preset`` alone as ``args`` did."""
    argv = [__file__, preset, "--batches", *map(str, args.batches), "--repeats", str(args.repeats)]
    if args.targets:
        argv += ["--targets", *args.targets]
    for flag, value in (("--n-quality", args.n_quality), ("--torch-threads", args.torch_threads)):
        if value is not None:
            argv += [flag, str(value)]
    if args.may_skip != MAY_SKIP:
        argv += ["--may-skip", *args.may_skip]
    return argv


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("presets", nargs="*", default=["digits8", "mnist28"])
    ap.add_argument("--targets", nargs="+", help="targets to run (default: every registered target and cuda)")
    ap.add_argument("--batches", nargs="+", type=int, default=[1, 16, 64])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--n-quality", type=int, help="latents for accuracy and quality (default: the held-out digits)")
    ap.add_argument("--torch-threads", type=int, help="torch intra-op threads (default: torch's own choice)")
    ap.add_argument("--may-skip", nargs="*", default=MAY_SKIP,
                    help="targets that may be skipped for want of hardware without failing (default: cuda board)")
    args = ap.parse_args(argv)
    targets = args.targets or default_targets()
    failed: dict[str, str] = {}
    for preset in args.presets:
        measured = machine()
        try:
            result = compare(resolve_subject(preset), targets=targets, batches=args.batches, repeats=args.repeats,
                             n_quality=args.n_quality, torch_threads=args.torch_threads)
        except Exception as e:  # noqa: BLE001 -- reported, the bench exits non-zero; the other presets still run
            failed[preset] = f"{type(e).__name__}: {e}"
            continue
        images = result.pop("_images")
        missing = {k: v for k, v in skipped_targets(result).items() if k not in args.may_skip}
        if missing:
            failed[preset] = "; ".join(f"{k} did not run: {v}" for k, v in missing.items())
            continue
        out = OUT / preset
        write_report(result, images, out)
        print(f"wrote {out}", flush=True)
        gpu = "skipped" not in result["targets"].get("cuda", {"skipped": ""})
        name = f"{preset}-gpu" if gpu else preset
        where = f"on {result['environment']['cuda_device']}" if gpu else "on the CPU"
        write_section(f"compare_targets/{name}", f"{preset} {where}", command(reproduce(args, preset)), measured,
                      section(result))
    return exit_status(failed)


if __name__ == "__main__":
    sys.exit(main())
