"""The torch front end for a user's own module: ``path/to/file.py:factory`` with a weights file.

The file is run as a Python module (it is the user's own code), ``factory()`` must return an ``nn.Module``, and
the weights are loaded into it strictly: a ``.safetensors`` file, or a state_dict ``.pt`` / ``.pth`` read with
``torch.load(..., weights_only=True)`` (nothing is unpickled beyond tensors). The module is then traced and lowered
by :func:`fpgagen.models.lower.lower_module`, which accepts any module torch.fx can trace into a chain.

The latent size is the input size of the module's first Linear, or the input channels of its first ConvTranspose2d
(a DCGAN's latent viewed as (nz, 1, 1)); ``latent_dim`` where there is neither, and a mismatch is refused.

A module returning a flat (N, C*H*W) -- pytorch/examples' VAE decoder -- is viewed as images (N, C, H, W) with the
``image_shape`` given (:func:`~fpgagen.models.imports.image_view`): the lowering appends a ``reshape``, and the
module the import check and the ``torch`` target run is the user's followed by ``view(-1, C, H, W)``.
"""

from __future__ import annotations

import importlib.util
import pickle
import re
import sys
from pathlib import Path

import torch
from torch import nn

from fpgagen.models.checkpoint import batchnorm_problems
from fpgagen.models.imports import SourceModel, image_view
from fpgagen.models.lower import Reshape, lower_module
from fpgagen.models.sampling import generate

WEIGHT_SUFFIXES = (".safetensors", ".pt", ".pth")


def load_factory(ref: str) -> nn.Module:
    """``factory()`` of ``path/to/file.py:factory``, checked to be an nn.Module."""
    file, _, factory = ref.rpartition(":")
    path = Path(file)
    if not path.is_file():
        raise FileNotFoundError(f"{ref}: {path} does not exist")
    module_name = f"fpgagen_user_{abs(hash(path.resolve()))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ValueError(f"{ref}: {path} is not a Python file")
    user = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = user  # dataclasses and pickling look modules up here
    try:
        spec.loader.exec_module(user)
    except Exception as e:  # the user's file: any error it raises is reported, with its type
        sys.modules.pop(module_name, None)
        raise ValueError(f"{ref}: running {path} raised {type(e).__name__}: {e}") from e
    fn = getattr(user, factory, None)
    if not callable(fn):
        raise ValueError(f"{ref}: {path} defines no function {factory!r}")
    try:
        module = fn()
    except Exception as e:
        raise ValueError(f"{ref}: {factory}() raised {type(e).__name__}: {e}") from e
    if not isinstance(module, nn.Module):
        raise ValueError(f"{ref}: {factory}() returned a {type(module).__name__}, not a torch nn.Module")
    return module


def load_weights(module: nn.Module, weights: Path) -> None:
    """Load ``weights`` into ``module`` strictly (every parameter and buffer, none extra, the same shapes)."""
    weights = Path(weights)
    if not weights.is_file():
        raise FileNotFoundError(f"weights {weights} do not exist")
    if weights.suffix not in WEIGHT_SUFFIXES:
        raise ValueError(f"weights {weights}: expected {', '.join(WEIGHT_SUFFIXES)}")
    try:
        if weights.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(weights))
        else:
            state = torch.load(weights, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "not an allowed global" not in str(e):  # not a pickle of objects: a damaged file
            why = re.search(r"WeightsUnpickler error:\s*(.+?)\s*(?:\n|$)", str(e))  # not torch's weights_only advice
            raise ValueError(f"weights {weights}: not readable as a tensor file (a damaged or foreign file: "
                             f"{why.group(1) if why else type(e).__name__})") from None
        # torch's message advises weights_only=False, which fpgagen never passes
        raise ValueError(f"weights {weights}: a pickled object, not a state_dict of tensors; fpgagen does not unpickle "
                         "code. Save the weights with torch.save(module.state_dict(), path) or safetensors' "
                         "save_file, and pass the module as file.py:factory") from None
    except Exception as e:  # a corrupt file: torch and safetensors raise several types
        raise ValueError(f"weights {weights}: not readable as a tensor file ({type(e).__name__}: {e})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"weights {weights}: expected a state_dict (names -> tensors), got {type(state).__name__}")
    own = module.state_dict()
    problems = [f"missing {k}" for k in own if k not in state] + [f"unexpected {k}" for k in state if k not in own]
    problems += [f"{k}: {tuple(state[k].shape)} in the file, {tuple(v.shape)} in the module" for k, v in own.items()
                 if k in state and state[k].shape != v.shape]
    if problems:
        raise ValueError(f"weights {weights} do not fit the module: {'; '.join(problems[:8])}"
                         + (f"; and {len(problems) - 8} more" if len(problems) > 8 else ""))
    non_finite = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if non_finite:
        raise ValueError(f"weights {weights}: NaN or Inf in {', '.join(non_finite)}")
    module.load_state_dict(state, strict=True)
    problems = batchnorm_problems(module)
    if problems:
        raise ValueError(f"weights {weights}: its BatchNorm statistics would make the output NaN: "
                         + "; ".join(problems))


def infer_latent_dim(module: nn.Module) -> int | None:
    """The input size of the first Linear or ConvTranspose2d registered in ``module`` (None without one, or when a
    Conv2d comes first)."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            return m.in_features
        if isinstance(m, nn.ConvTranspose2d):
            return m.in_channels
        if isinstance(m, nn.Conv2d):
            return None
    return None


def read_torch(ref: str, weights: Path | None, name: str, latent_dim: int | None = None,
               image_shape=None) -> SourceModel:
    """The :class:`SourceModel` of ``path/to/file.py:factory`` with ``weights`` (None: the factory's own); a flat
    output viewed as ``image_shape`` (C, H, W), which an image output must be, if given."""
    module = load_factory(ref)
    if weights is not None:
        load_weights(module, weights)
    module.eval()
    inferred = infer_latent_dim(module)
    if latent_dim is None and inferred is None:
        raise ValueError(f"{ref}: cannot tell the latent size from the module (no Linear or ConvTranspose2d comes "
                         "first); pass --latent-dim")
    if latent_dim is not None and inferred is not None and latent_dim != inferred:
        raise ValueError(f"{ref}: --latent-dim {latent_dim}, but the module's first layer takes {inferred}")
    latent_dim = latent_dim or inferred
    try:
        with torch.no_grad():
            out = module(torch.zeros(2, latent_dim))
    except Exception as e:  # the user's forward on (2, latent_dim): its own error, reported
        raise ValueError(f"{ref}: the module does not run on latents of shape (N, {latent_dim}): "
                         f"{type(e).__name__}: {e}") from None
    if not isinstance(out, torch.Tensor) or out.dim() < 2:
        what = f"a tensor of shape {tuple(out.shape)}" if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(f"{ref}: the module returns {what}; a generator returns images (N, C, H, W), or a flat "
                         "(N, C*H*W) viewed as images with --image-shape C,H,W")
    try:
        images = image_view(out.shape[1:], image_shape)
    except ValueError as e:
        raise ValueError(f"{ref}: the module {e}") from None
    float_model = lower_module(module, name, latent_dim, images)
    if out.dim() == 2:
        module = nn.Sequential(module, Reshape(*images)).eval()
    return SourceModel(float_model, lambda z: generate(module, z), f"torch {torch.__version__}",
                       file=Path(ref.rpartition(":")[0]), module=module, weights=weights)
