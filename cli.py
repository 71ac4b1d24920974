"""The ``fpgagen`` command line: one subcommand per step of the flow."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from fpgagen.overlays.boards import BOARDS as BOARD_REGISTRY

CLASSIFIERS = ("classifier8", "classifier28")
BOARDS = tuple(BOARD_REGISTRY)  # every registered board (fpgagen.overlays.boards); each gets an accelerator project


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def cmd_train(args: argparse.Namespace) -> None:
    out = args.out or Path("runs") / f"{args.model}.safetensors"
    if args.model in CLASSIFIERS:
        from fpgagen.models.classifier import train_and_save_classifier

        metrics = train_and_save_classifier(args.model, out, seed=args.seed, epochs=args.epochs)
        print(f"{args.model}: test accuracy {metrics['test_accuracy']:.4f} on {metrics['test_images']} held-out digits")
    else:
        from fpgagen.models.train import train_preset

        metrics = train_preset(args.model, out, seed=args.seed, epochs=args.epochs)
        print(format_quality(args.model, metrics["quality"]))
        print(f"trained in {metrics['train_seconds']} s")
    print(f"wrote {out}")


def cmd_sample(args: argparse.Namespace) -> None:
    from fpgagen.core.latents import latents
    from fpgagen.models.presets import load_preset
    from fpgagen.models.sampling import save_grid

    generator = load_preset(args.preset, args.checkpoint)
    images = generator.generate(latents(args.n, generator.spec.latent_dim, args.seed))
    path = save_grid(images, args.out, generator.spec.output_range)
    print(f"wrote {path} ({args.n} {args.preset} samples, seed {args.seed})")


def format_quality(name: str, q: dict) -> str:
    rows = [("generated", q["generated"]), ("real digits (reference)", q["real"]),
            ("uniform noise (reference)", q["noise"])]
    lines = [f"{name}: n={q['n']} samples, seed {q['seed']}",
             f"  {'':27s} {'recognizability':>15s} {'coverage':>9s} {'frechet':>9s}"]
    lines += [f"  {label:27s} {m['recognizability']:15.3f} {m['coverage']:9.3f} {m['frechet']:9.2f}"
              for label, m in rows]
    return "\n".join(lines)


def cmd_eval(args: argparse.Namespace) -> None:
    from fpgagen.models.presets import load_preset
    from fpgagen.models.train import evaluate

    q = evaluate(load_preset(args.preset, args.checkpoint), n=args.n, seed=args.seed)
    print(format_quality(args.preset, q))
    if args.json:
        Path(args.json).write_text(json.dumps(q, indent=2) + "\n")
        print(f"wrote {args.json}")


def cmd_quantize(args: argparse.Namespace) -> None:
    from fpgagen.core.quantize import QuantConfig
    from fpgagen.models.presets import load_preset
    from fpgagen.models.quality import fixed_vs_float
    from fpgagen.models.quantize import quantize

    config = QuantConfig.from_file(args.config) if args.config else QuantConfig()
    generator = load_preset(args.preset, args.checkpoint)
    model = quantize(generator, config)
    out = args.out or Path("build") / args.preset / "quantized"
    model.save(out)
    print(model.summary())
    print(f"widths: {model.info['width_source']}")
    q = fixed_vs_float(model, generator)
    print(f"fixed vs float on {q['n']} latents: PSNR {q['psnr_db']:.1f} dB, max |err| {q['max_abs_error']:.4f}, "
          f"Frechet {q['fixed']['frechet']:.2f} (float {q['float']['frechet']:.2f})")
    print(f"wrote {out}")


def cmd_convert(args: argparse.Namespace) -> None:
    from fpgagen.core.quantize import QuantConfig
    from fpgagen.hls.accelerator import FLOAT_REFERENCE, write_accelerator_project
    from fpgagen.models.presets import load_preset
    from fpgagen.models.quantize import quantize
    from fpgagen.overlays.boards import get_board

    config = QuantConfig.from_file(args.config) if args.config else QuantConfig()
    if config.multipliers is None:  # the multipliers of the board the project is for, not the preset's default
        config.multipliers = get_board(args.board).multiplier_budget
    generator = load_preset(args.preset, args.checkpoint)
    model = quantize(generator, config)
    out = args.out or Path("build") / args.preset / args.board
    manifest = write_accelerator_project(model, out, args.board)
    generator.float_model().save(out / FLOAT_REFERENCE)
    stream = manifest["stream"]
    print(model.summary())
    print(f"{manifest['board']} ({manifest['part']}), {manifest['clock']['mhz']:g} MHz, {manifest['io_type']}, "
          f"{manifest['strategy']}; AXI-Stream {stream['beat_bits']}-bit {stream['element']} beats: "
          f"{stream['beats_per_latent']} per latent in, {stream['beats_per_image']} per image out")
    files = manifest["files"]
    print(f"wrote {out}: {files['quantized_model']}/ (QuantizedModel), {files['hls_project']}/ (HLS project, "
          f"AXI wrapper {Path(files['axi_wrapper']).name}, block design {Path(files['block_design']).name}), "
          f"manifest.json, {FLOAT_REFERENCE}")
    print(f"next: fpgagen build {args.preset} --board {args.board}" + (f" --project {out}" if args.out else ""))


def cmd_build(args: argparse.Namespace) -> None:
    from fpgagen.hls.accelerator import build_overlay

    project = args.project or Path("build") / args.preset / args.board
    out = build_overlay(project, args.board, overlays_dir=args.out)
    print(f"wrote {', '.join(str(path) for path in out.values())}")


def cmd_generate(args: argparse.Namespace) -> None:
    import time

    from fpgagen.core.latents import latents
    from fpgagen.host.executors import get_executor
    from fpgagen.host.subject import Subject
    from fpgagen.models.presets import load_preset
    from fpgagen.models.sampling import save_grid

    start = time.perf_counter()
    subject = Subject.of(load_preset(args.preset, args.checkpoint))
    options = {"board": subject.board} if args.target == "board" else {}
    executor = get_executor(args.target, subject.model_for(args.target), **options)
    executor.prepare()
    prepared = time.perf_counter() - start
    z = latents(args.n, subject.latent_dim, args.seed)
    start = time.perf_counter()
    try:
        images = executor.run(z)
    finally:
        executor.close()
    seconds = time.perf_counter() - start
    path = save_grid(images, args.out, subject.output_range)
    extra = "".join(f", {k} {v}" for k, v in executor.last_info.items() if k in ("cycles_per_image", "transfers"))
    print(f"{args.target} ({executor.description}): {args.n} images in {seconds:.3f} s "
          f"({args.n / seconds:.1f} images/s; prepare {prepared:.1f} s{extra})")
    print(f"wrote {path}")


def cmd_compare(args: argparse.Namespace) -> None:
    from fpgagen.host.compare import compare
    from fpgagen.host.report import format_table
    from fpgagen.host.subject import resolve_subject

    subject = resolve_subject(args.preset, args.overlay, args.checkpoint)
    result = compare(subject, targets=args.targets, batches=args.batches, repeats=args.repeats,
                     n_quality=args.n_quality, seed=args.seed, torch_threads=args.torch_threads, out=args.out)
    print(format_table(result))
    print(f"wrote {args.out}: {', '.join(result['files'].values())}")
    for name, reason in result["files_skipped"].items():
        print(f"not written: {name}.png: {reason}")


def preset_names() -> list[str] | None:
    """The registered presets, or None where torch (which defines them) is not installed: on a PYNQ board, where
    only ``compare --overlay`` runs."""
    try:
        from fpgagen.models.presets import PRESETS
    except ImportError:
        return None
    return sorted(PRESETS)


def add_preset(p: argparse.ArgumentParser, presets: list[str] | None, checkpoint: bool = True) -> None:
    """The PRESET argument (and --checkpoint) that most subcommands take."""
    p.add_argument("preset", choices=presets, metavar="PRESET",
                   help=", ".join(presets) if presets else "preset name (torch is not installed: no list)")
    if checkpoint:
        p.add_argument("--checkpoint", type=Path, help="checkpoint (default: the shipped one)")


def build_parser() -> argparse.ArgumentParser:
    presets = preset_names()
    parser = argparse.ArgumentParser(
        prog="fpgagen", description="Generative models from PyTorch to Zynq FPGAs."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("train", help="train a preset (or a metric classifier) and write its checkpoint",
                       description="Train a generator preset (GAN: adversarial; VAE: ELBO) or one of the digit "
                                   "classifiers the quality metrics use. Seeded and reproducible.")
    p.add_argument("model", choices=presets and presets + list(CLASSIFIERS), metavar="MODEL",
                   help=f"preset ({', '.join(presets or [])}) or classifier ({', '.join(CLASSIFIERS)})")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--epochs", type=positive_int, help="epochs (default: the model's own)")
    p.add_argument("--out", type=Path, help="checkpoint to write (default runs/MODEL.safetensors); "
                                            "metrics.json goes beside it")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("sample", help="write a grid of generated images",
                       description="Generate images from seeded latents with a trained preset; write a PNG grid.")
    add_preset(p, presets)
    p.add_argument("--n", type=positive_int, default=64, help="number of images (default 64)")
    p.add_argument("--seed", type=int, default=0, help="latent seed (default 0)")
    p.add_argument("--out", type=Path, default=Path("grid.png"), help="PNG to write (default grid.png)")
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("eval", help="measure sample quality against real digits and noise",
                       description="Recognizability, class coverage and Frechet distance of a preset's samples, "
                                   "judged by the digit classifier, beside real-digit and noise references.")
    add_preset(p, presets)
    p.add_argument("--n", type=positive_int, help="samples (default: as many as held-out digits)")
    p.add_argument("--seed", type=int, default=0, help="latent seed (default 0)")
    p.add_argument("--json", type=Path, help="also write the metrics as JSON here")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("quantize", help="fold, calibrate and quantize a preset into a QuantizedModel",
                       description="Fold BatchNorm, calibrate ranges and choose every fixed-point type; write the "
                                   "QuantizedModel (model.json + weights.npz) that every later step reads.")
    add_preset(p, presets)
    p.add_argument("--config", type=Path, help="JSON file overriding widths, types or reuse factors")
    p.add_argument("--out", type=Path, help="folder to write (default build/PRESET/quantized)")
    p.set_defaults(func=cmd_quantize)

    p = sub.add_parser("convert", help="quantize a preset and write its hls4ml accelerator project",
                       description="Quantize a preset, convert it with hls4ml (VivadoAccelerator, AXI-Stream) and "
                                   "write the QuantizedModel, the HLS project with its AXI-Stream wrapper and block "
                                   "design, and manifest.json (types, reuse factors, stream contract, board, clock).")
    add_preset(p, presets)
    p.add_argument("--board", choices=BOARDS, default="pynq-z2", help="target board (default pynq-z2)")
    p.add_argument("--config", type=Path, help="JSON file overriding widths, types or reuse factors")
    p.add_argument("--out", type=Path, help="folder to write (default build/PRESET/BOARD)")
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("build", help="synthesize a converted project into an overlay (needs Vivado)",
                       description="Run Vivado HLS and Vivado on the project `fpgagen convert` wrote and copy the "
                                   "bitstream and hardware handoff to overlays/BOARD/PRESET.bit and .hwh.")
    add_preset(p, presets, checkpoint=False)
    p.add_argument("--board", choices=BOARDS, default="pynq-z2", help="target board (default pynq-z2)")
    p.add_argument("--project", type=Path, help="project folder (default build/PRESET/BOARD)")
    p.add_argument("--out", type=Path, help="overlays folder: the overlay goes to OUT/BOARD/ (default overlays/)")
    p.set_defaults(func=cmd_build)

    from fpgagen.host.executors import EXECUTORS

    targets = list(EXECUTORS)
    p = sub.add_parser("generate", help="generate images on a target: torch, golden, csim, virtual board, board",
                       description="Generate images from seeded latents on one target (one executor interface "
                                   "behind all of them) and write a PNG grid.")
    add_preset(p, presets)
    p.add_argument("--target", choices=targets, default="golden", help=f"{', '.join(targets)} (default golden)")
    p.add_argument("--n", type=positive_int, default=64, help="number of images (default 64)")
    p.add_argument("--seed", type=int, default=0, help="latent seed (default 0)")
    p.add_argument("--out", type=Path, default=Path("grid.png"), help="PNG to write (default grid.png)")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("compare", help="compare latency, throughput, accuracy and quality across targets",
                       description="Run the same seeded latents on each target (CPU float, fixed point, simulated "
                                   "and real FPGA): latency, throughput per batch size (measured), cycles from "
                                   "simulation at the board's clock (projected), error against float, image quality; "
                                   "targets that cannot run here are listed as skipped with the reason. Writes "
                                   "compare.json, table.txt and PNG plots under --out. On a PYNQ board (numpy + "
                                   "pynq only) pass --overlay: the float reference is then numpy.")
    add_preset(p, presets)
    p.add_argument("--targets", nargs="+", choices=targets + ["cuda"], metavar="TARGET",
                   help=f"targets (default all: {', '.join(targets[:1] + ['cuda'] + targets[1:])})")
    p.add_argument("--batches", nargs="+", type=positive_int, default=[1, 16, 64],
                   help="batch sizes of the throughput sweep (default 1 16 64)")
    p.add_argument("--repeats", type=positive_int, default=5,
                   help="least timed runs per measurement, after a warm-up; fast targets repeat for at least 0.2 s "
                        "(default 5)")
    p.add_argument("--n-quality", type=positive_int, help="latents for accuracy and quality (default: as many "
                                                          "as held-out digits)")
    p.add_argument("--seed", type=int, default=0, help="latent seed (default 0)")
    p.add_argument("--torch-threads", type=positive_int, help="torch intra-op threads (default: torch's own)")
    p.add_argument("--overlay", type=Path, help="the overlay's .bit for the board target (default "
                                                "overlays/BOARD/PRESET.bit, BOARD the preset's); PRESET.float.npz and "
                                                "PRESET.quantized/ beside it, when present, are the numpy and "
                                                "fixed-point models (on a board without torch: required)")
    p.add_argument("--out", type=Path, default=Path("compare"), help="folder to write (default compare/)")
    p.set_defaults(func=cmd_compare)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from fpgagen.core.errors import ToolNotFoundError

    reported: tuple[type[Exception], ...] = (ValueError, RuntimeError, TimeoutError, FileNotFoundError,
                                             ToolNotFoundError, ImportError)
    try:
        from fpgagen.models.checkpoint import CheckpointError

        reported += (CheckpointError,)
    except ImportError:  # no torch (a PYNQ board): no checkpoints to read either
        pass
    try:
        args.func(args)
    except reported as e:
        hint = " (this step needs fpgagen's workstation extras)" if isinstance(e, ImportError) else ""
        print(f"fpgagen {args.command}: error: {e}{hint}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
