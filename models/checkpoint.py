"""Checkpoints: safetensors files holding one or more named modules, validated strictly on load.

A checkpoint stores each module's ``state_dict`` under a prefix (``generator.``, ``encoder.``,
``classifier.``) and records in its metadata which model it belongs to. Loading compares the file against
freshly built modules and names every missing or unexpected tensor, every shape and dtype mismatch and every
non-finite value, instead of failing on the first one.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file
from torch import nn

from fpgagen.core.cache import replacing, write_atomic

FORMAT = "fpgagen-checkpoint-1"
CHECKPOINT_DIR = Path(__file__).resolve().parent / "checkpoints"


class CheckpointError(ValueError):
    """A checkpoint file that does not match the model it is loaded into."""


def default_checkpoint(name: str) -> Path:
    """The shipped checkpoint of model ``name`` (a preset or a classifier)."""
    return CHECKPOINT_DIR / f"{name}.safetensors"


def metrics_path(checkpoint: Path) -> Path:
    """The metrics.json written beside a checkpoint."""
    checkpoint = Path(checkpoint)
    return checkpoint.with_name(checkpoint.name.removesuffix(".safetensors") + ".metrics.json")


def save_checkpoint(path: Path, name: str, modules: dict[str, nn.Module], metrics: dict | None = None) -> Path:
    """Write ``modules`` (prefix -> module) for model ``name`` to ``path``; ``metrics`` go to a JSON beside it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {
        f"{prefix}.{key}": value.detach().cpu().contiguous()
        for prefix, module in modules.items()
        for key, value in module.state_dict().items()
    }
    with replacing(path) as tmp:
        save_file(tensors, str(tmp), metadata={"format": FORMAT, "model": name})
    if metrics is not None:
        write_atomic(metrics_path(path), json.dumps(metrics, indent=2) + "\n")
    return path


def read_metadata(path: Path) -> dict[str, str]:
    """The metadata of a checkpoint file; CheckpointError if it is not a fpgagen checkpoint."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path}: not a readable safetensors file ({e})") from e
    if metadata.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a fpgagen checkpoint (metadata format {metadata.get('format')!r})")
    return metadata


def load_checkpoint(path: Path, name: str, modules: dict[str, nn.Module]) -> None:
    """Load ``path`` into ``modules`` (prefix -> module) in place, after checking it matches them exactly.

    Raises:
        FileNotFoundError: the file does not exist.
        CheckpointError: the file is corrupt, belongs to another model, or any tensor is missing, unexpected,
            of another shape or dtype, or not finite. The message lists every problem found.
    """
    path = Path(path)
    metadata = read_metadata(path)
    if metadata.get("model") != name:
        raise CheckpointError(f"{path}: checkpoint of {metadata.get('model')!r}, not of {name!r}")
    try:
        found = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path}: not a readable safetensors file ({e})") from e

    expected = {
        f"{prefix}.{key}": value for prefix, module in modules.items() for key, value in module.state_dict().items()
    }
    problems = []
    missing = sorted(expected.keys() - found.keys())
    unexpected = sorted(found.keys() - expected.keys())
    if missing:
        problems.append(f"missing tensors: {', '.join(missing)}")
    if unexpected:
        problems.append(f"unexpected tensors: {', '.join(unexpected)}")
    for key in sorted(expected.keys() & found.keys()):
        want, got = expected[key], found[key]
        if tuple(want.shape) != tuple(got.shape):
            problems.append(f"{key}: shape {tuple(got.shape)} in file, model expects {tuple(want.shape)}")
        elif want.dtype != got.dtype:
            problems.append(f"{key}: dtype {got.dtype} in file, model expects {want.dtype}")
        elif got.is_floating_point() and not torch.isfinite(got).all():
            problems.append(f"{key}: holds NaN or Inf")
    if problems:
        raise CheckpointError(f"{path} does not match model {name!r}:\n  " + "\n  ".join(problems))

    for prefix, module in modules.items():
        state = {k[len(prefix) + 1 :]: v for k, v in found.items() if k.startswith(prefix + ".")}
        module.load_state_dict(state, strict=True)
    problems = [p for prefix, module in modules.items() for p in batchnorm_problems(module, prefix)]
    if problems:
        raise CheckpointError(f"{path}: its BatchNorm statistics would make the output NaN:\n  "
                              + "\n  ".join(problems))


def batchnorm_problems(module: nn.Module, prefix: str = "") -> list[str]:
    """What in ``module``'s BatchNorm layers makes their output non-finite in eval mode: a running variance at or
    below ``-eps`` (the layer divides by sqrt(var + eps)) or an ``eps`` that is not positive; one text per tensor."""
    problems = []
    for name, m in module.named_modules():
        if not isinstance(m, nn.modules.batchnorm._BatchNorm) or m.running_var is None:
            continue
        where = ".".join(part for part in (prefix, name) if part)
        if not m.eps > 0:
            problems.append(f"{where}: eps {m.eps} (it must be positive)")
        bad = m.running_var + m.eps <= 0
        if bad.any():
            problems.append(f"{where}.running_var: {int(bad.sum())} of {bad.numel()} values at or below -eps (lowest "
                            f"{float(m.running_var.min()):.4g}); a variance is never negative")
    return problems
