"""The ``fpgagen`` command line: one subcommand per step of the flow."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from fpgagen.core.cache import KINDS as CACHE_KINDS
from fpgagen.core.folding import KERNELS, PLACEMENT_POLICIES
from fpgagen.models.catalog import CLASSIFIER_NAMES as CLASSIFIERS
from fpgagen.overlays.boards import BOARDS as BOARD_REGISTRY

BOARDS = tuple(BOARD_REGISTRY)  # every registered board (fpgagen.overlays.boards); each gets an accelerator project


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def image_shape(text: str) -> tuple[int, int, int]:
    """An argparse type: ``C,H,W``, three positive integers (an image shape)."""
    parts = text.replace("x", ",").split(",")
    try:
        shape = tuple(int(v) for v in parts)
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise argparse.ArgumentTypeError(f"expected C,H,W: three positive integers, e.g. 1,28,28; got {text!r}")
    return shape


def int_in(low: int, high: int):
    """An argparse type: an integer in ``low..high`` (bounds that keep a run finite), named in its error."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer in {low:,}..{high:,}, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"expected an integer in {low:,}..{high:,}, got {value:,}")
        return value

    return parse


MAX_IMAGES = 100_000  # fpgagen.core.latents.MAX_SAMPLES: latents per run
MAX_GRID = 4096  # images a PNG grid shows (64 x 64 tiles); more go to a .npy file
SEED = int_in(0, 2**32 - 1)  # numpy's seed range


def cmd_train(args: argparse.Namespace) -> None:
    out = check_out(args.out or Path("runs") / f"{args.model}.safetensors")
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


def load_generator(args: argparse.Namespace):
    """The Generator the MODEL argument (and --weights, --latent-dim, --latents, --image-shape) names."""
    from fpgagen.models.load import load_model

    return load_model(args.model, args.weights, latent_dim=args.latent_dim, distribution=args.latents,
                      image_shape=args.image_shape, quiet=False)


def check_out(path: Path, folder: bool = False, option: str = "--out") -> Path:
    """An output path checked before any work (:func:`fpgagen.core.cache.check_output_path`)."""
    from fpgagen.core.cache import check_output_path

    return check_output_path(path, folder, option)


def check_image_out(path: Path, n: int) -> None:
    """Refuse an images file ``save_images`` cannot write, before the work that makes the ``n`` images."""
    check_out(path)
    if path.suffix.lower() not in (".png", ".npy"):
        raise ValueError(f"--out {path}: images are written as a .png grid or a .npy array")
    if path.suffix.lower() == ".png" and n > MAX_GRID:
        raise ValueError(f"--out {path}: a PNG grid shows at most {MAX_GRID:,} images (64 x 64 tiles), not {n:,}; "
                         "write a .npy file for more")


def save_images(images, path: Path, output_range) -> Path:
    """A PNG grid, or a .npy file of the images as float32 (N, C, H, W) (``path`` checked by
    :func:`check_image_out` before the work); images with NaN or Inf are refused."""
    import numpy as np

    from fpgagen.models.sampling import save_grid

    if not np.isfinite(images).all():
        raise ValueError(f"the images hold NaN or Inf ({int((~np.isfinite(images)).sum())} values): {path} not "
                         "written (the model's weights or statistics are broken)")
    if path.suffix.lower() == ".npy":
        from fpgagen.core.cache import replacing

        with replacing(path) as tmp:
            np.save(tmp, np.ascontiguousarray(images, np.float32))
        return path
    return save_grid(images, path, output_range)


def cmd_sample(args: argparse.Namespace) -> None:
    check_image_out(args.out, args.n)
    generator = load_generator(args)
    images = generator.generate(generator.latents(args.n, args.seed))
    path = save_images(images, args.out, generator.spec.output_range)
    print(f"wrote {path} ({args.n} {generator.name} samples, seed {args.seed})")


def format_quality(name: str, q: dict) -> str:
    rows = [("generated", q["generated"]), ("real digits (reference)", q["real"]),
            ("uniform noise (reference)", q["noise"])]
    lines = [f"{name}: n={q['n']} samples, seed {q['seed']}",
             f"  {'':27s} {'recognizability':>15s} {'coverage':>9s} {'frechet':>9s}"]
    lines += [f"  {label:27s} {m['recognizability']:15.3f} {m['coverage']:9.3f} {m['frechet']:9.2f}"
              for label, m in rows]
    return "\n".join(lines)


def cmd_eval(args: argparse.Namespace) -> None:
    from fpgagen.models.train import evaluate

    if args.json:
        check_out(args.json, option="--json")
    generator = load_generator(args)
    if generator.spec.dataset is None:
        raise ValueError(f"{generator.name}: the quality metrics judge 1x28x28 and 1x8x8 digit images with the digit "
                         f"classifiers; {generator.name} makes {'x'.join(map(str, generator.spec.image_shape))} images "
                         "(`fpgagen quantize` reports error and PSNR against its float model)")
    q = evaluate(generator, n=args.n, seed=args.seed)
    print(format_quality(generator.name, q))
    if args.json:
        from fpgagen.core.cache import write_atomic

        write_atomic(Path(args.json), json.dumps(q, indent=2) + "\n")
        print(f"wrote {args.json}")


def cmd_examples(args: argparse.Namespace) -> None:
    from fpgagen.models.examples import write_examples

    paths = write_examples(args.out, seed=args.seed, force=args.force)
    print(f"wrote {', '.join(str(path) for path in paths)}")
    print("next: the commands of docs/guide.md's \"Your own generator\", e.g. fpgagen import "
          f"{args.out / 'generator.onnx'} --out gen")


def cmd_import(args: argparse.Namespace) -> None:
    from fpgagen.models.load import default_name, describe_import, load_model, source_kind
    from fpgagen.models.model_folder import check_out, write_model_folder

    if source_kind(args.model) in ("preset", "folder"):
        raise ValueError(f"{args.model} is a {source_kind(args.model)}: every command takes it as it is; import reads "
                         "file.py:factory, .onnx and .keras files")
    check_out(args.out)
    # named after its folder: two imports of generator.onnx into gen/ and seed/ are two models, with two builds
    name = args.name or default_name(args.out.resolve())
    generator = load_model(args.model, args.weights, latent_dim=args.latent_dim, distribution=args.latents,
                           image_shape=args.image_shape, name=name, digit_metrics=not args.no_digit_metrics)
    print(describe_import(generator))
    print(describe_board(generator))
    write_model_folder(generator, args.out)
    print(f"wrote {args.out}: model.json, weights.safetensors ({generator.float_model()!r})")
    print(f"next: fpgagen quantize {args.out}")


def describe_board(generator) -> str:
    """Where the generator's weights fit at its default widths, or why none does, in one line."""
    try:
        choice = generator.board()
    except ValueError as e:
        return f"warning: {e}"
    return (f"board: {choice.board.name} holds its {choice.parameters:,} parameters at {choice.weight_width} bits "
            f"({choice.weight_bits / 1e6:.2f} of {choice.board.rom_bits / 1e6:.2f} Mbit block RAM; "
            f"{choice.width_source})")


def cmd_quantize(args: argparse.Namespace) -> None:
    from fpgagen.core.quantize import QuantConfig
    from fpgagen.models.load import model_name
    from fpgagen.models.quality import fixed_vs_float
    from fpgagen.models.quantize import quantize

    config = QuantConfig.from_file(args.config) if args.config else QuantConfig()
    out = check_out(args.out or Path("build") / model_name(args.model) / "quantized", folder=True)
    generator = load_generator(args)
    model = quantize(generator, config, board=args.board, kernel=args.kernel)
    model.save(out)
    print(model.summary())
    if args.board:
        from fpgagen.overlays.boards import placement_table

        print(placement_table(model, args.board))
    print(f"widths: {model.info['width_source']}")
    q = fixed_vs_float(model, generator)
    quality = (f", Frechet {q['fixed']['frechet']:.2f} (float {q['float']['frechet']:.2f})" if "fixed" in q else
               f" (no digit metrics: {generator.name} makes {'x'.join(map(str, generator.spec.image_shape))} images)")
    print(f"fixed vs float on {q['n']} latents: PSNR {q['psnr_db']:.1f} dB, max |err| {q['max_abs_error']:.4f}"
          + quality)
    print(f"wrote {out}")


def _refuse_another_models_build(reference: Path, generator) -> None:
    """ValueError when ``reference`` (a project's float reference) is another model's: two models of one name (two
    imports of ``generator.onnx``, say) would otherwise overwrite each other's build and overlay."""
    if not reference.is_file():
        return
    from fpgagen.core.float_model import FloatModel

    there = FloatModel.load(reference)
    if there.digest() != generator.float_model().digest():
        raise ValueError(f"--out {reference.parent} holds the build of another model named {there.name!r} (its float "
                         f"model differs from {generator.name}'s): choose another --out, name the import apart "
                         "(--name), or remove that folder")


def project_folder(args: argparse.Namespace) -> Path:
    """The default board project of a model: build/NAME/BOARD (hls4ml's kernel) or build/NAME/BOARD-rtl."""
    from fpgagen.models.load import model_name

    return Path("build") / model_name(args.model) / (args.board + ("-rtl" if args.kernel == "rtl" else ""))


def cmd_convert(args: argparse.Namespace) -> None:
    from fpgagen.core.quantize import QuantConfig
    from fpgagen.models.quantize import quantize, resolve_kernel
    from fpgagen.overlays.boards import placement_table
    from fpgagen.overlays.project import FLOAT_REFERENCE

    config = QuantConfig.from_file(args.config) if args.config else QuantConfig()
    args.kernel = resolve_kernel(config, args.kernel)  # before the default project folder, which names it
    out = check_out(args.out or project_folder(args), folder=True)
    generator = load_generator(args)
    _refuse_another_models_build(out / FLOAT_REFERENCE, generator)
    model = quantize(generator, config, board=args.board, kernel=args.kernel)  # folded and placed for the project
    print(placement_table(model, args.board))
    if args.kernel == "rtl":
        manifest = _write_rtl_project(model, out, args)
    else:
        manifest = _write_hls_project(model, out, args)
    generator.float_model().save(out / FLOAT_REFERENCE)
    files = manifest["files"]
    if "weights" in manifest:
        weights = manifest["weights"]
        print(f"{files['weights']}: {weights['nbytes']:,} bytes of weights for {len(weights['ports'])} weight "
              f"port(s), {weights['beat_bits']}-bit beats, an MM2S AXI DMA each in the block design ("
              + ", ".join(f"{p['dma']}: {p['layer']} {p['placement']}" for p in weights["ports"])
              + "); `fpgagen build` installs it beside the .bit")
    fit = manifest["fit"]
    for text in fit["problems"]:
        print(f"warning: does not fit {args.board} (written anyway: --force): {text}")
    for text in fit["warnings"]:
        print(f"warning: {text}")
    print(f"next: fpgagen build {args.model} --board {args.board}" + (" --kernel rtl" if args.kernel == "rtl" else "")
          + (f" --project {out}" if args.out else "") + (" --force" if fit["problems"] else ""))


def _write_hls_project(model, out: Path, args: argparse.Namespace) -> dict:
    from fpgagen.hls.accelerator import write_accelerator_project
    from fpgagen.overlays.project import FLOAT_REFERENCE

    manifest = write_accelerator_project(model, out, args.board, force=args.force)
    stream = manifest["stream"]
    print(model.summary())
    print(f"{manifest['board']} ({manifest['part']}), {manifest['clock']['mhz']:g} MHz, {manifest['io_type']}, "
          f"{manifest['strategy']}; AXI-Stream {stream['beat_bits']}-bit {stream['element']} beats: "
          f"{stream['beats_per_latent']} per latent in, {stream['beats_per_image']} per image out")
    files = manifest["files"]
    print(f"wrote {out}: {files['quantized_model']}/ (QuantizedModel), {files['hls_project']}/ (HLS project, "
          f"AXI wrapper {Path(files['axi_wrapper']).name}, block design {Path(files['block_design']).name}), "
          f"manifest.json, {FLOAT_REFERENCE}")
    return manifest


def _write_rtl_project(model, out: Path, args: argparse.Namespace) -> dict:
    from fpgagen.overlays.boards import get_board
    from fpgagen.overlays.project import FLOAT_REFERENCE
    from fpgagen.rtl.board_project import write_rtl_project

    write_rtl_project(model, out, args.board, force=args.force)
    manifest = json.loads((out / "manifest.json").read_text())
    stream, kernel, files = manifest["stream"], manifest["kernel"], manifest["files"]
    print(model.summary())
    print(f"{manifest['board']} ({manifest['part']}), {manifest['clock']['mhz']:g} MHz, RTL kernel {kernel['top']}: "
          f"{kernel['multipliers']} multipliers on {kernel['dsp_slices']} DSP slices and "
          f"{kernel['lut_multipliers']} in LUTs, {kernel['bound_cycles']:,} cycles per image; AXI-Stream "
          f"{stream['beat_bits']}-bit {stream['element']} beats: {stream['beats_per_latent']} per latent in, "
          f"{stream['beats_per_image']} per image out")
    print(f"wrote {out}: {files['quantized_model']}/ (QuantizedModel), {files['rtl']}/ ({len(files['sources'])} HDL "
          f"sources with the wrapper {Path(files['wrapper']).name}, {len(files['memory_files'])} memory files), "
          f"{files['build_script']} (Vivado project and block design), manifest.json, {FLOAT_REFERENCE}")
    fit, dsp = manifest["fit"], get_board(args.board).dsp
    print(f"board fit: {fit['weight_bits']:,} weight bits ("
          + ", ".join(f"{bits:,} {placement}" for placement, bits in fit["placed_bits"].items() if bits)
          + f"), {kernel['dsp_slices']:,} of {dsp:,} DSP slices; fits "
          + (", ".join(fit["fits_on"]) or "no registered board"))
    return manifest


def cmd_build(args: argparse.Namespace) -> None:
    project = args.project or project_folder(args)
    if args.out:
        check_out(args.out, folder=True)
    if args.kernel == "rtl":
        from fpgagen.rtl.board_project import build_rtl_overlay as build
    else:
        from fpgagen.hls.accelerator import build_overlay as build
    out = build(project, args.board, overlays_dir=args.out, force=args.force)
    print(f"wrote {', '.join(str(path) for path in out.values())}")


def cmd_generate(args: argparse.Namespace) -> None:
    import time

    from fpgagen.core.latents import latents
    from fpgagen.core.quantize import QuantConfig
    from fpgagen.host.executors import get_executor
    from fpgagen.host.subject import resolve_subject

    check_image_out(args.out, args.n)
    start = time.perf_counter()
    config = QuantConfig.from_file(args.config) if args.config else None
    subject = resolve_subject(args.model, args.overlay, args.weights, config, board=args.board, kernel=args.kernel,
                              latent_dim=args.latent_dim, distribution=args.latents, image_shape=args.image_shape,
                              quiet=False)
    options = ({"board": subject.board, "bitfile": subject.bitfile} if args.target == "board"
               else {"board": args.board} if args.target in ("virtual-golden", "rtlsim") and args.board else {})
    executor = get_executor(args.target, subject.model_for(args.target), **options)
    executor.prepare()
    prepared = time.perf_counter() - start
    z = latents(args.n, subject.latent_dim, args.seed, subject.latents)
    start = time.perf_counter()
    try:
        images = executor.run(z)
    finally:
        executor.close()
    seconds = time.perf_counter() - start
    path = save_images(images, args.out, subject.output_range)
    extra = "".join(f", {k} {v}" for k, v in executor.last_info.items() if k in ("cycles_per_image", "transfers"))
    print(f"{args.target} ({executor.description}): {args.n} images in {seconds:.3f} s "
          f"({args.n / seconds:.1f} images/s; prepare {prepared:.1f} s{extra})")
    print(f"wrote {path}")


def cmd_explore(args: argparse.Namespace) -> None:
    from fpgagen.host.explore import dsp_slices, explore, format_front, placed, points
    from fpgagen.models.load import model_name
    from fpgagen.models.quantize import generator_widths
    from fpgagen.models.widths import judge

    out = check_out(args.out or Path("explore") / f"{model_name(args.model)}-{args.board}", folder=True)
    generator = load_generator(args)
    (data_width, weight_width), source = generator_widths(generator)
    grid = points((data_width, weight_width), args.board, quick=args.quick, placements=args.placements,
                  kernels=tuple(args.kernels))
    result = explore(generator.float_model(), args.board, out, grid, generator.spec.latents, args.engine,
                     args.ray_address, rtlsim=args.rtlsim, synth=args.synth, judge=judge(generator))
    print(format_front(result))
    chosen = result["chosen"]
    policies = ", ".join(dict.fromkeys(p.placement for p in grid))
    print(f"{len(result['points'])} points ({result['measured_now']} measured now on {result['engine']}, "
          f"{result['seconds']:.1f} s), {len(result['front'])} on the front; centre of the grid: data "
          f"{data_width}, weight {weight_width} bits ({source}); placement policies: {policies}")
    if chosen is None:
        print("no point fits the board and meets the width rule's targets (PSNR >= 35 dB; for a digit generator "
              "the Frechet distance within 5% of float's): nothing chosen")
    else:
        print(f"chosen: {chosen['key']} (PSNR {chosen['psnr_db']:.1f} dB, {chosen['images_per_s']:,.0f} images/s, "
              f"{chosen['multipliers']} multipliers on {dsp_slices(chosen)} DSP slices, weights {placed(chosen)})")
    print(f"wrote {out}: {', '.join(result['files'].values())}")
    if chosen is not None:
        kernel = chosen["config"].get("kernel", "hls")
        print(f"next: fpgagen convert {args.model} --board {args.board} --config {out / 'chosen.json'}"
              + (f" --kernel {kernel}" if kernel != "hls" else ""))


def cmd_compare(args: argparse.Namespace) -> None:
    from fpgagen.host.compare import compare
    from fpgagen.host.report import format_table
    from fpgagen.host.subject import resolve_subject

    check_out(args.out, folder=True)
    subject = resolve_subject(args.model, args.overlay, args.weights, board=args.board, kernel=args.kernel,
                              latent_dim=args.latent_dim, distribution=args.latents, image_shape=args.image_shape,
                              quiet=False)
    result = compare(subject, targets=args.targets, batches=args.batches, repeats=args.repeats,
                     n_quality=args.n_quality, seed=args.seed, torch_threads=args.torch_threads, out=args.out)
    print(format_table(result))
    print(f"wrote {args.out}: {', '.join(result['files'].values())}")
    for name, reason in result["files_skipped"].items():
        print(f"not written: {name}.png: {reason}")


def cmd_cache(args: argparse.Namespace) -> None:
    import time

    from fpgagen.core.cache import cache_items, cache_root, remove_item

    cutoff = time.time() - args.older_than * 86400 if args.older_than else None
    items = [i for i in cache_items(args.kind) if cutoff is None or i.mtime < cutoff]
    if args.action == "list":
        print(f"{cache_root()}: {len(items)} entries, {sum(i.nbytes for i in items) / 1e6:,.1f} MB")
        for i in items:
            age = (time.time() - i.mtime) / 86400
            print(f"  {i.kind:9s} {i.nbytes / 1e6:9,.1f} MB  {age:6.1f} days  {i.path.name:28s} {i.what}")
        return
    removed = [i for i in items if remove_item(i)]
    busy = len(items) - len(removed)
    print(f"removed {len(removed)} entries, {sum(i.nbytes for i in removed) / 1e6:,.1f} MB, from {cache_root()}"
          + (f"; {busy} in use by another process kept" if busy else ""))


def preset_names() -> list[str]:
    """The shipped presets, named without importing torch (:mod:`fpgagen.models.catalog`)."""
    from fpgagen.models.catalog import PRESET_NAMES

    return sorted(PRESET_NAMES)


MODEL_HELP = ("a preset ({presets}), path/to/file.py:factory (a function returning an nn.Module; --weights), a .onnx "
              "file, a .keras file (Keras 3), or a model folder written by `fpgagen import`")


def add_model(p: argparse.ArgumentParser, presets: list[str], weights: bool = True) -> None:
    """The MODEL argument that most subcommands take, with the options of an imported model."""
    p.add_argument("model", metavar="MODEL",
                   help=MODEL_HELP.format(presets=", ".join(presets)))
    if weights:
        p.add_argument("--weights", "--checkpoint", dest="weights", type=Path,
                       help="weights of a preset (default: its shipped checkpoint) or of file.py:factory "
                            "(.safetensors, or a state_dict .pt read with weights_only=True)")
        p.add_argument("--latent-dim", type=positive_int,
                       help="latent size of an imported model whose input does not say it")
        p.add_argument("--latents", choices=("normal", "uniform"),
                       help="latent distribution of an imported model (default normal): calibration and sampling "
                            "draw from it")
        p.add_argument("--image-shape", type=image_shape, metavar="C,H,W",
                       help="view an imported model's flat output (N, C*H*W), a VAE decoder's, as images "
                            "(N, C, H, W), in C order like torch's view (a model folder records it)")


def add_kernel(p: argparse.ArgumentParser) -> None:
    """--kernel: which kernel the model is folded for."""
    p.add_argument("--kernel", choices=KERNELS,
                   help="hls: hls4ml's kernel and its folding (one multiplier per DSP slice; rtlsim is its cycle "
                        "twin); rtl: the RTL kernel with its own folding (two products per DSP slice where the widths "
                        "allow, multipliers in LUTs where the DSP slices run out); default: a --config's kernel, "
                        "else hls")


def build_parser() -> argparse.ArgumentParser:
    presets = preset_names()
    parser = argparse.ArgumentParser(
        prog="fpgagen", description="Generative models from PyTorch to Zynq FPGAs."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("train", help="train a preset (or a metric classifier) and write its checkpoint",
                       description="Train a generator preset (GAN: adversarial; VAE: ELBO) or one of the digit "
                                   "classifiers the quality metrics use. Seeded and reproducible.")
    p.add_argument("model", choices=presets + list(CLASSIFIERS), metavar="MODEL",
                   help=f"preset ({', '.join(presets)}) or classifier ({', '.join(CLASSIFIERS)})")
    p.add_argument("--seed", type=SEED, default=0, help="random seed (default 0)")
    p.add_argument("--epochs", type=int_in(1, 10_000), help="epochs (default: the model's own)")
    p.add_argument("--out", type=Path, help="checkpoint to write (default runs/MODEL.safetensors); "
                                            "metrics.json goes beside it")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("sample", help="write a grid of generated images",
                       description="Generate images from seeded latents with a trained model (PNG grid or .npy).")
    add_model(p, presets)
    p.add_argument("--n", type=int_in(1, MAX_IMAGES), default=64, help="number of images (default 64)")
    p.add_argument("--seed", type=SEED, default=0, help="latent seed (default 0)")
    p.add_argument("--out", type=Path, default=Path("grid.png"),
                   help="PNG grid, or .npy of the images as float32 (N, C, H, W) (default grid.png)")
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("eval", help="measure sample quality against real digits and noise",
                       description="Recognizability, class coverage and Frechet distance of a preset's samples, "
                                   "judged by the digit classifier, beside real-digit and noise references.")
    add_model(p, presets)
    p.add_argument("--n", type=int_in(1, MAX_IMAGES), help="samples (default: as many as held-out digits)")
    p.add_argument("--seed", type=SEED, default=0, help="latent seed (default 0)")
    p.add_argument("--json", type=Path, help="also write the metrics as JSON here")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("examples", help="write small example generators to import: torch, ONNX, Keras, a VAE decoder",
                       description="Write the example generators docs/guide.md's \"Your own generator\" imports: "
                                   "my_gan.py (factory make_generator) with G.safetensors, generator.onnx, "
                                   "generator.keras (Keras 3), and vae.py (factory decoder, a flat (N, 784) VAE "
                                   "decoder) with D.pt. Small, seeded, untrained; nothing is downloaded.")
    p.add_argument("--out", type=Path, default=Path("."), help="folder to write them in (default: the current one)")
    p.add_argument("--seed", type=SEED, default=0, help="weight seed (default 0)")
    p.add_argument("--force", action="store_true", help="replace files of those names already there")
    p.set_defaults(func=cmd_examples)

    p = sub.add_parser("import", help="import a PyTorch, ONNX or Keras generator into a model folder",
                       description="Read a generator (file.py:factory with --weights, .onnx, .keras), lower it to "
                                   "fpgagen's layers, check it against its own framework on 256 latents (refused "
                                   "beyond 1e-4 of the output range) and write a self-contained model folder "
                                   "(model.json + weights.safetensors) that every command takes as MODEL.")
    add_model(p, presets)
    p.add_argument("--name", help="the model's name: its builds go to build/<name>/ (default: the --out folder's name)")
    p.add_argument("--no-digit-metrics", action="store_true",
                   help="do not judge 1x28x28 / 1x8x8 images with the digit classifiers (error and PSNR only)")
    p.add_argument("--out", type=Path, required=True, help="model folder to write")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("quantize", help="fold, calibrate and quantize a model into a QuantizedModel",
                       description="Fold BatchNorm, calibrate ranges and choose every fixed-point type; write the "
                                   "QuantizedModel (model.json + weights.npz) that every later step reads.")
    add_model(p, presets)
    p.add_argument("--config", type=Path, help="JSON file overriding widths, types, reuse factors or the placement "
                                               "policy (e.g. `fpgagen explore`'s chosen.json)")
    p.add_argument("--board", choices=BOARDS, help="fold and place the model for this board (weights off the ROMs "
                                                   "where it needs them); default: the board its weights fit")
    p.add_argument("--out", type=Path, help="folder to write (default build/PRESET/quantized)")
    add_kernel(p)
    p.set_defaults(func=cmd_quantize)

    kernel_help = ("the kernel in the block design: hls (default), hls4ml's C++ through Vivado HLS; rtl, the "
                   "generated SystemVerilog top, the RTL twin Verilator simulates, through Vivado alone")
    p = sub.add_parser("convert", help="quantize a model and write its board project (hls4ml's kernel or the RTL one)",
                       description="Quantize the model, check that it fits the board (block RAM, DSP; --force "
                                   "writes the project anyway) and write the QuantizedModel, the kernel's project and "
                                   "manifest.json (types, reuse factors, stream contract, board, clock). --kernel hls "
                                   "(default): hls4ml's VivadoAccelerator project (AXI-Stream wrapper, block design). "
                                   "--kernel rtl: the generated SystemVerilog top, a Verilog wrapper and build.tcl, a "
                                   "Vivado project whose block design holds it in place of hls4ml's kernel (the same "
                                   "DMAs, addresses and driver).")
    add_model(p, presets)
    p.add_argument("--board", choices=BOARDS, default="pynq-z2", help="target board (default pynq-z2)")
    p.add_argument("--kernel", choices=KERNELS, help=kernel_help.replace("hls (default)", "hls")
                   + "; its folding: hls4ml's reuse factors, or the RTL kernel's own (two products per DSP slice, "
                   "LUT multipliers); default: a --config's kernel, else hls")
    p.add_argument("--config", type=Path, help="JSON file overriding widths, types, reuse factors or the placement "
                                               "policy (e.g. `fpgagen explore`'s chosen.json)")
    p.add_argument("--out", type=Path, help="folder to write (default build/NAME/BOARD, build/NAME/BOARD-rtl for "
                                            "--kernel rtl)")
    p.add_argument("--force", action="store_true", help="write the project even when the model does not fit the "
                                                        "board (block RAM, DSP); the manifest records it")
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("build", help="synthesize a converted project into an overlay (needs Vivado)",
                       description="Build the project `fpgagen convert` wrote and copy the bitstream and hardware "
                                   "handoff to overlays/BOARD/PRESET.bit and .hwh: --kernel hls runs Vivado HLS and "
                                   "Vivado, --kernel rtl Vivado only.")
    add_model(p, presets, weights=False)
    p.add_argument("--board", choices=BOARDS, default="pynq-z2", help="target board (default pynq-z2)")
    p.add_argument("--kernel", choices=KERNELS, default="hls", help=kernel_help)
    p.add_argument("--project", type=Path, help="project folder (default build/PRESET/BOARD, build/PRESET/BOARD-rtl "
                                                "for --kernel rtl)")
    p.add_argument("--out", type=Path, help="overlays folder: the overlay goes to OUT/BOARD/ (default overlays/)")
    p.add_argument("--force", action="store_true", help="build even when the model does not fit the board")
    p.set_defaults(func=cmd_build)

    from fpgagen.host.executors import EXECUTORS

    targets = list(EXECUTORS)
    p = sub.add_parser("generate", help="generate images on a target: torch, golden, csim, virtual board, board",
                       description="Generate images from seeded latents on one target (one executor interface "
                                   "behind all of them) and write a PNG grid.")
    add_model(p, presets)
    p.add_argument("--target", choices=targets, default="golden", help=f"{', '.join(targets)} (default golden)")
    p.add_argument("--n", type=int_in(1, MAX_IMAGES), default=64, help="number of images (default 64)")
    p.add_argument("--seed", type=SEED, default=0, help="latent seed (default 0)")
    p.add_argument("--overlay", type=Path, help="the overlay's .bit for the board target (default "
                                                "overlays/BOARD/NAME.bit); NAME.quantized/ and NAME.float.npz beside "
                                                "it, when present, are what the fixed-point and numpy targets run")
    p.add_argument("--config", type=Path, help="JSON quantization config for the fixed-point targets (e.g. "
                                               "`fpgagen explore`'s chosen.json)")
    p.add_argument("--board", choices=BOARDS, help="fold and place the model for this board, as it would run "
                                                   "there (weights off the ROMs where it needs them; rtlsim counts "
                                                   "every stall on weights); default: the board its weights fit")
    p.add_argument("--out", type=Path, default=Path("grid.png"),
                   help="PNG grid, or .npy of the images as float32 (N, C, H, W) (default grid.png)")
    add_kernel(p)
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("explore", help="sweep precision, folding and weight placement on a board: Pareto front "
                                       "and a chosen config",
                       description="Quantize the model at a grid of data widths, weight widths, table sizes, "
                                   "multiplier budgets and placement policies (where weights that leave the ROMs "
                                   "may go: UltraRAM or DDR); measure each point (PSNR against float on the golden "
                                   "model, cycles per image from the RTL twin's bound, the DDR's included, "
                                   "multipliers, weight bits and their placements against the board) on Ray when "
                                   "installed (else one after the other); write points.jsonl (resumable), "
                                   "front.json, front.png and chosen.json, a config for quantize/convert/generate "
                                   "--board BOARD --config.")
    add_model(p, presets)
    p.add_argument("--board", choices=BOARDS, default="pynq-z2", help="target board (default pynq-z2)")
    p.add_argument("--quick", action="store_true", help="a small grid (one bit either side, two budgets)")
    p.add_argument("--placements", nargs="+", choices=PLACEMENT_POLICIES, metavar="POLICY",
                   help=f"placement policies to explore ({', '.join(PLACEMENT_POLICIES)}): auto places weights that "
                        "leave the ROMs wherever the board has room, loaded only in UltraRAM, streamed only from "
                        "DDR, rom nowhere (what the hls4ml board project builds); default: auto, and loaded and "
                        "streamed alone on a board with both")
    p.add_argument("--kernels", nargs="+", choices=KERNELS, default=["hls"], metavar="KERNEL",
                   help="kernels to fold each point for (hls: hls4ml's folding; rtl: the RTL kernel's, with packed "
                        "DSP slices and LUT multipliers; the multiplier budgets then count DSP slices); default hls")
    p.add_argument("--engine", choices=("auto", "ray", "serial"), default="auto",
                   help="Ray when installed (auto, the default), Ray required, or one point after the other")
    p.add_argument("--ray-address", help="a Ray cluster's address (default: a local instance on this machine)")
    p.add_argument("--rtlsim", action="store_true", help="also simulate the RTL twin of every fitting front point "
                                                         "(Verilator, weights off the ROMs fed by the harness's DDR "
                                                         "model; its measured cycles beside the bound)")
    p.add_argument("--synth", action="store_true", help="also estimate every fitting front point's resources with "
                                                        "yosys (DSP, BRAM36, URAM288, LUT, FF against the board)")
    p.add_argument("--out", type=Path, help="folder to write (default explore/MODEL-BOARD; an earlier run there is "
                                            "resumed)")
    p.set_defaults(func=cmd_explore)

    p = sub.add_parser("compare", help="compare latency, throughput, accuracy and quality across targets",
                       description="Run the same seeded latents on each target (CPU float, fixed point, simulated "
                                   "and real FPGA): latency, throughput per batch size (measured), cycles from "
                                   "simulation at the board's clock (projected), error against float, image quality; "
                                   "targets that cannot run here are listed as skipped with the reason. Writes "
                                   "compare.json, table.txt and PNG plots under --out. On a PYNQ board (numpy + "
                                   "pynq only) pass --overlay: the float reference is then numpy.")
    add_model(p, presets)
    p.add_argument("--targets", nargs="+", choices=targets + ["cuda"], metavar="TARGET",
                   help=f"targets (default all: {', '.join(targets[:1] + ['cuda'] + targets[1:])})")
    p.add_argument("--batches", nargs="+", type=int_in(1, 4096), default=[1, 16, 64],
                   help="batch sizes of the throughput sweep (default 1 16 64)")
    p.add_argument("--repeats", type=int_in(1, 200), default=5,
                   help="least timed runs per measurement, after a warm-up; fast targets repeat for at least 0.2 s "
                        "(default 5)")
    p.add_argument("--n-quality", type=int_in(1, MAX_IMAGES), help="latents for accuracy and quality (default: as many "
                                                          "as held-out digits)")
    p.add_argument("--seed", type=SEED, default=0, help="latent seed (default 0)")
    p.add_argument("--torch-threads", type=positive_int, help="torch intra-op threads (default: torch's own)")
    p.add_argument("--overlay", type=Path, help="the overlay's .bit for the board target (default "
                                                "overlays/BOARD/PRESET.bit, BOARD the preset's); PRESET.float.npz and "
                                                "PRESET.quantized/ beside it, when present, are the numpy and "
                                                "fixed-point models (on a board without torch: required)")
    p.add_argument("--board", choices=BOARDS, help="fold and place the model for this board (its DSP ceiling and "
                                                   "clock for the projections; weights off the ROMs where it needs "
                                                   "them); default: the board its weights fit")
    p.add_argument("--out", type=Path, default=Path("compare"), help="folder to write (default compare/)")
    add_kernel(p)
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("cache", help="list or clear the build caches (C simulations, Verilator builds, syntheses)",
                       description="The build caches under $FPGAGEN_CACHE (default ~/.cache/fpgagen): every entry "
                                   "with its size and what it holds, largest first; `clear` removes entries (all, or "
                                   "of --kind, or unchanged for --older-than days), skipping any another process is "
                                   "building or reading. Each is rebuilt when next needed.")
    p.add_argument("action", nargs="?", choices=("list", "clear"), default="list", help="default: list")
    p.add_argument("--kind", nargs="+", choices=sorted(CACHE_KINDS), help="only these kinds (default: every kind)")
    p.add_argument("--older-than", type=positive_int, metavar="DAYS", help="only entries unchanged for DAYS days")
    p.set_defaults(func=cmd_cache)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from fpgagen.core.errors import ToolNotFoundError

    reported: tuple[type[Exception], ...] = (ValueError, RuntimeError, TimeoutError, OSError, ToolNotFoundError,
                                             ImportError)
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
    except KeyboardInterrupt:  # Ctrl-C: outputs are written whole or not at all (core.cache.replacing)
        print(f"fpgagen {args.command}: interrupted; outputs already written are complete, the one in progress was "
              "not written", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
