"""The model folder ``fpgagen import`` writes: a self-contained imported generator that every command accepts.

``DIR/model.json`` holds ``format`` (:data:`FORMAT`), the spec (``name``, ``latent_dim``, ``image_shape``,
``output_range``, ``latents``, ``dataset``, ``description``), ``source`` (framework, source file and its sha256,
the import check's figures) and the float model's ``layers`` (each ``name``, ``kind`` and the kind's attributes,
as in :mod:`fpgagen.core.float_model`); ``weights_sha256`` is the sha256 of ``DIR/weights.safetensors``, which holds
each arithmetic layer's ``<name>.weight`` and ``<name>.bias`` (float32, BatchNorm folded); ``checked_sha256`` holds a
sha256 of each field the import check vouched for (:data:`CHECKED_FIELDS`), so a layer removed or an output range
widened by hand is refused, naming the field, instead of running another network under the same check. Reading it
needs no pickle and no source framework: the folder is what was checked at import.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from fpgagen.core.cache import check_output_path, file_digest
from fpgagen.core.float_model import FloatModel, FloatModelError
from fpgagen.core.latents import DISTRIBUTIONS
from fpgagen.core.layers import ARITHMETIC
from fpgagen.models.generator import Generator, GeneratorSpec
from fpgagen.models.imports import check_name

FORMAT = "fpgagen-model-1"
SPEC_FILE = "model.json"
WEIGHTS_FILE = "weights.safetensors"


class ModelFolderError(ValueError):
    """A model folder that is damaged, incomplete or not one."""


def check_out(out: Path) -> None:
    """Refuse ``out`` before any work unless a model folder can be written there: a new path, an empty folder or a
    model folder (replaced), in a folder that is writable (:func:`fpgagen.core.cache.check_output_path`)."""
    out = Path(out)
    if out.exists() and not (out.is_dir() and (not any(out.iterdir()) or (out / SPEC_FILE).is_file())):
        raise FileExistsError(f"{out} exists and is not an empty folder or a model folder; choose another --out")
    check_output_path(out, folder=True)


def write_model_folder(generator: Generator, out: Path) -> Path:
    """Write ``generator`` (imported: its spec has a ``source``) as a model folder ``out``; returns ``out``.

    ``out`` may not exist yet, be empty, or be a model folder (replaced). The files are written into a temporary
    folder beside it and moved into place, so an interrupted write leaves the old folder or none.
    """
    from safetensors.numpy import save_file

    out = Path(out)
    check_out(out)
    spec, fm = generator.spec, generator.float_model()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    try:
        save_file({f"{lr.name}.{part}": getattr(lr, part) for lr in fm.layers if lr.kind in ARITHMETIC
                   for part in ("weight", "bias")}, str(tmp / WEIGHTS_FILE))
        doc = {"format": FORMAT, "name": spec.name, "latent_dim": spec.latent_dim,
               "image_shape": list(spec.image_shape), "output_range": list(spec.output_range),
               "latents": spec.latents, "dataset": spec.dataset, "description": spec.description,
               "source": spec.source, "weights_sha256": file_digest(tmp / WEIGHTS_FILE),
               "layers": [lr.to_json() for lr in fm.layers]}
        doc["checked_sha256"] = checked_digests(doc)
        (tmp / SPEC_FILE).write_text(json.dumps(doc, indent=2) + "\n")
        for path, mode in ((tmp / WEIGHTS_FILE, 0o666), (tmp / SPEC_FILE, 0o666), (tmp, 0o777)):
            path.chmod(mode & ~umask)  # mkdtemp makes a private folder; the model folder is an ordinary one
        if out.exists():
            old = out.with_name(f".{out.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


CHECKED_FIELDS = ("name", "latent_dim", "image_shape", "output_range", "latents", "layers", "weights_sha256", "source")


def checked_digests(doc: dict) -> dict[str, str]:
    """The sha256 of each field of ``model.json`` that the import check vouched for (the network, its interface
    and the check's own record): a field edited afterwards no longer matches its digest, and is named."""
    return {key: hashlib.sha256(json.dumps(doc[key], sort_keys=True).encode()).hexdigest() for key in CHECKED_FIELDS}


def read_spec(folder: Path) -> dict:
    """The checked ``model.json`` document of model folder ``folder``."""
    path = Path(folder) / SPEC_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{folder} is not a model folder: no {SPEC_FILE} (write one with `fpgagen import`)")
    try:
        doc = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelFolderError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        found = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        raise ModelFolderError(f"{path}: format {found!r}, expected {FORMAT!r}")
    expected = {"name": str, "latent_dim": int, "image_shape": list, "output_range": list, "latents": str,
                "layers": list, "weights_sha256": str, "source": dict}
    for key, kind in expected.items():
        if not isinstance(doc.get(key), kind) or isinstance(doc.get(key), bool):
            raise ModelFolderError(f"{path}: {key!r} must be a {kind.__name__}, got {doc.get(key)!r:.60}")
    try:
        check_name(doc["name"])
    except ValueError as e:
        raise ModelFolderError(f"{path}: {e}") from None
    recorded = doc.get("checked_sha256")
    if not isinstance(recorded, dict):
        raise ModelFolderError(f"{path}: no checked_sha256 (written before fpgagen recorded what its import check "
                               "vouched for): re-run `fpgagen import`")
    changed = [key for key, digest in checked_digests(doc).items() if recorded.get(key) != digest]
    if changed:
        raise ModelFolderError(f"{path}: {', '.join(changed)} changed since `fpgagen import` checked the model "
                               "against its framework; the folder no longer holds what was checked (re-run "
                               "`fpgagen import`)")
    if doc["latents"] not in DISTRIBUTIONS:
        raise ModelFolderError(f"{path}: latents {doc['latents']!r} (supported: {', '.join(DISTRIBUTIONS)})")
    if doc.get("dataset") not in (None, "mnist28", "digits8"):
        raise ModelFolderError(f"{path}: dataset {doc.get('dataset')!r} (supported: null, mnist28, digits8)")
    return doc


def read_model_folder(folder: Path) -> Generator:
    """The Generator of model folder ``folder``; FileNotFoundError or ModelFolderError say what is wrong."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    folder = Path(folder)
    doc = read_spec(folder)
    weights = folder / WEIGHTS_FILE
    if not weights.is_file():
        raise FileNotFoundError(f"{folder}: {WEIGHTS_FILE} is missing")
    if file_digest(weights) != doc["weights_sha256"]:
        raise ModelFolderError(f"{weights}: its sha256 is not the one {SPEC_FILE} records; the folder's files do not "
                               "belong together (re-run `fpgagen import`)")
    try:
        arrays = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as e:
        raise ModelFolderError(f"{weights}: not readable ({e})") from None
    try:
        fm = FloatModel.from_parts(doc["layers"], arrays, doc["name"], doc["latent_dim"], doc["image_shape"],
                                   doc["output_range"], doc["latents"])
        spec = GeneratorSpec(doc["name"], fm.latent_dim, fm.image_shape, fm.output_range,
                             description=doc.get("description") or "", dataset=doc.get("dataset"),
                             latents=doc["latents"], source=doc["source"])
    except (FloatModelError, TypeError, ValueError) as e:
        raise ModelFolderError(f"{folder}: {e}") from None
    return Generator.of_float_model(spec, fm, weights)
