"""The MODEL argument of every command: a preset, a user's torch module, an ONNX or Keras file, or a model folder.

:func:`load_model` turns any of them into a :class:`~fpgagen.models.generator.Generator`:

- a preset name (:mod:`fpgagen.models.presets`);
- ``path/to/file.py:factory``: a function returning an ``nn.Module``, with ``weights`` (``.safetensors``, or a
  state_dict ``.pt`` read with ``weights_only=True``) (:mod:`fpgagen.models.torch_import`);
- ``model.onnx`` (:mod:`fpgagen.models.onnx_import`);
- ``model.keras``, Keras 3's file format (:mod:`fpgagen.models.keras_import`);
- a model folder written by ``fpgagen import`` (:mod:`fpgagen.models.model_folder`).

A file is imported: its front end lowers it to a FloatModel, and :func:`import_source` runs the source framework and
the float model on :data:`CHECK_LATENTS` latents and refuses the model when they differ by more than
:data:`TOLERANCE` of the output range; the figure goes into the spec (``spec.source["check"]``). A model whose
output is flat, (N, C*H*W), is imported with ``image_shape`` (C, H, W), viewed as images by every front end alike
(:func:`fpgagen.models.imports.image_view`); its model folder records the image shape, so later commands need it no
more. The output range comes from the final Tanh (-1, 1) or Sigmoid (0, 1) (a reshape of a flat output after it
included), else from the float model on the calibration latents. Digit
quality metrics apply to 1x28x28 and 1x8x8 images only (their classifiers' shapes); other models are judged by
error and PSNR against their float model.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from fpgagen.core.cache import file_digest
from fpgagen.core.latents import DISTRIBUTIONS, latents
from fpgagen.core.quantize import CALIBRATION_LATENTS, CALIBRATION_SEED
from fpgagen.models.generator import Generator, GeneratorSpec
from fpgagen.models.imports import SourceModel, check_image_shape, check_name, final_kind

TOLERANCE = 1e-4  # largest |source - imported| allowed, as a fraction of the output range
CHECK_LATENTS = 256
CHECK_SEED = 12345
# Image shapes the digit classifiers judge (the quality metrics' datasets).
DIGIT_DATASETS = {(1, 28, 28): "mnist28", (1, 8, 8): "digits8"}
MODEL_FORMS = ("a preset name, path/to/file.py:factory (with --weights), a .onnx file, a .keras file, or a model "
               "folder written by `fpgagen import`")


class ImportCheckError(ValueError):
    """The imported float model does not compute what the source framework computes."""


def default_name(path: Path) -> str:
    """A model's name from its file: the stem, lower case, anything but letters, digits, ``-`` and ``_`` made ``_``."""
    return re.sub(r"[^a-z0-9_-]+", "_", Path(path).stem.lower()).strip("_") or "model"


def source_kind(ref: str) -> str:
    """``"preset"``, ``"torch"``, ``"onnx"``, ``"keras"`` or ``"folder"``: what MODEL ``ref`` names (nothing read)."""
    path = Path(ref)
    if path.suffix.lower() == ".onnx":
        return "onnx"
    if path.suffix.lower() == ".keras":
        return "keras"
    if re.search(r"\.py:[A-Za-z_][A-Za-z0-9_]*$", ref):
        return "torch"
    if path.is_dir():
        return "folder"
    return "preset"


def source_path(ref: str, kind: str) -> Path:
    """The file an importable MODEL names (``file.py`` of ``file.py:factory``)."""
    return Path(ref.rsplit(":", 1)[0] if kind == "torch" else ref)


def model_name(ref: str, name: str | None = None) -> str:
    """The name MODEL ``ref`` goes by (its files and overlays are named after it), without importing it."""
    if name:
        return name
    kind = source_kind(ref)
    if kind == "preset":
        return ref
    if kind == "folder":
        from fpgagen.models.model_folder import read_spec

        return read_spec(Path(ref))["name"]
    return default_name(source_path(ref, kind))


def load_model(ref: str, weights: Path | None = None, *, latent_dim: int | None = None, distribution: str | None = None,
               image_shape=None, name: str | None = None, digit_metrics: bool = True, quiet: bool = True) -> Generator:
    """The Generator MODEL ``ref`` names (see the module docstring); files are imported and checked.

    Args:
        ref: the MODEL argument.
        weights: weights of a preset (default: its shipped checkpoint) or of ``file.py:factory``.
        latent_dim: the latent size where the model's input does not say it (checked where it does).
        distribution: the latent distribution calibration and sampling draw from (an import's, default normal; a
            preset and a model folder keep their own).
        image_shape: (C, H, W) an imported model's flat output (N, C*H*W) is viewed as (required for one; an image
            output must have that shape, if given; a preset and a model folder keep their own).
        name: the model's name (default: the file's stem).
        digit_metrics: judge 1x28x28 / 1x8x8 images with the digit classifiers.
        quiet: do not print the import check.

    Raises:
        ValueError (LoweringError, ImportCheckError among them), FileNotFoundError: what is wrong, before any work.
    """
    kind = source_kind(ref)
    if kind == "preset":
        from fpgagen.models.presets import PRESETS, load_preset

        if ref not in PRESETS:
            raise ValueError(f"MODEL {ref!r} is not {MODEL_FORMS}; presets: {', '.join(sorted(PRESETS))}")
        if latent_dim is not None or name is not None or distribution is not None or image_shape is not None:
            raise ValueError(f"{ref} is a preset: --latent-dim, --latents, --image-shape and --name apply to imported "
                             "models only")
        return load_preset(ref, weights)
    if kind == "folder":
        from fpgagen.models.model_folder import read_model_folder

        if weights is not None or latent_dim is not None or distribution is not None or image_shape is not None:
            raise ValueError(f"{ref} is a model folder: it holds its weights, latent size, latent distribution and "
                             "image shape (--weights, --latent-dim, --latents and --image-shape apply to what "
                             "`fpgagen import` reads)")
        return read_model_folder(Path(ref))
    path = source_path(ref, kind)
    if not path.is_file():
        raise FileNotFoundError(f"MODEL {ref}: {path} does not exist")
    if weights is not None and kind != "torch":
        raise ValueError(f"{ref}: --weights applies to a preset or file.py:factory; a {kind} file holds its weights")
    name = check_name(name) if name else default_name(path)
    if image_shape is not None:
        image_shape = check_image_shape(image_shape)
    if kind == "torch":
        from fpgagen.models.torch_import import read_torch

        source = read_torch(ref, weights, name, latent_dim, image_shape)
    elif kind == "onnx":
        from fpgagen.models.onnx_import import read_onnx

        source = read_onnx(path, name, latent_dim, image_shape)
    else:
        from fpgagen.models.keras_import import read_keras

        source = read_keras(path, name, latent_dim, image_shape)
    generator = import_source(source, distribution or "normal", digit_metrics)
    if not quiet:
        print(describe_import(generator))
    return generator


def import_source(source: SourceModel, distribution: str = "normal", digit_metrics: bool = True) -> Generator:
    """The Generator of a front end's :class:`SourceModel`: output range set, import check run and recorded."""
    if distribution not in DISTRIBUTIONS:
        raise ValueError(f"latent distribution {distribution!r} (supported: {', '.join(DISTRIBUTIONS)})")
    fm = source.float_model
    fm.latents = distribution  # kept in its .float.npz: the board draws the same latents
    fm.output_range, range_source = output_range(fm, distribution)
    check = check_import(source, distribution)
    dataset = DIGIT_DATASETS.get(fm.image_shape) if digit_metrics else None
    if dataset is not None:
        metrics = f"judged against the {dataset} digits (its image shape)"
    elif digit_metrics:
        metrics = (f"error and PSNR against its float model only: the digit classifiers judge 1x28x28 and 1x8x8 "
                   f"images, these are {'x'.join(map(str, fm.image_shape))}")
    else:
        metrics = "error and PSNR against its float model only (digit metrics turned off at import)"
    files = {"file": str(source.file) if source.file else None,
             "sha256": file_digest(source.file) if source.file else None}
    if source.weights is not None:
        files.update(weights=str(source.weights), weights_sha256=file_digest(source.weights))
    spec = GeneratorSpec(
        fm.name, fm.latent_dim, fm.image_shape, fm.output_range,
        description=f"imported from {Path(source.file).name if source.file else 'memory'} ({source.framework})",
        dataset=dataset, latents=distribution,
        source={"framework": source.framework, **files, "output_range": range_source, "metrics": metrics,
                "check": check})
    checkpoint = source.weights if source.module is not None else source.file
    return Generator.of_float_model(spec, fm, checkpoint, module=source.module)


def output_range(fm, distribution: str) -> tuple[tuple[float, float], str]:
    """(low, high) of the model's output, and where it came from in words."""
    last = final_kind(fm.layers)
    if last == "tanh":
        return (-1.0, 1.0), "the final tanh"
    if last == "sigmoid":
        return (0.0, 1.0), "the final sigmoid"
    images = fm.run(latents(CALIBRATION_LATENTS, fm.latent_dim, CALIBRATION_SEED, distribution))
    lo, hi = float(images.min()), float(images.max())
    if not hi > lo:
        raise ValueError(f"{fm.name}: the output is constant ({lo}) on {CALIBRATION_LATENTS} latents; no output range")
    return (lo, hi), f"no final tanh or sigmoid: min and max on the {CALIBRATION_LATENTS} calibration latents"


def check_import(source: SourceModel, distribution: str = "normal", n: int = CHECK_LATENTS) -> dict:
    """Run the source framework and the float model on ``n`` latents; the figures, or ImportCheckError when they
    differ by more than :data:`TOLERANCE` of the output range."""
    fm = source.float_model
    z = latents(n, fm.latent_dim, CHECK_SEED, distribution)
    want = np.asarray(source.run(z), np.float32)
    got = fm.run(z)
    if want.shape != got.shape:
        raise ImportCheckError(f"{fm.name}: {source.framework} gives images of shape {want.shape[1:]}, the imported "
                               f"model {got.shape[1:]}")
    if not np.isfinite(want).all():
        raise ImportCheckError(f"{fm.name}: {source.framework} gives NaN or Inf on the check latents")
    span = fm.output_range[1] - fm.output_range[0]
    error = float(np.abs(want.astype(np.float64) - got).max())
    check = {"latents": n, "seed": CHECK_SEED, "distribution": distribution, "max_abs_error": error,
             "relative": error / span, "tolerance": TOLERANCE, "framework": source.framework}
    if not error <= TOLERANCE * span:
        raise ImportCheckError(
            f"{fm.name}: the imported float model differs from {source.framework} by {error:.3g} = "
            f"{error / span:.3g} of the output range on {n} latents (allowed {TOLERANCE:g}); fpgagen computes some "
            "layer differently from the source framework, so it refuses the model")
    return check


def describe_import(generator: Generator) -> str:
    """The import's figures in two lines."""
    spec, source = generator.spec, generator.spec.source
    check = source["check"]
    lo, hi = spec.output_range
    return (f"{spec.name}: ({spec.latent_dim},) {spec.latents} latents -> {'x'.join(map(str, spec.image_shape))} "
            f"images in [{lo:.4g}, {hi:.4g}] ({source['output_range']}); {spec.description}\n"
            f"import check: max |{check['framework']} - fpgagen float| = {check['max_abs_error']:.3g} = "
            f"{check['relative']:.2g} of the output range on {check['latents']} latents (allowed "
            f"{check['tolerance']:g}); quality: {source['metrics']}")
