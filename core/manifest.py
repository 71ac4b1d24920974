"""The stream manifest of a generator overlay: ``<name>.json`` beside ``<name>.bit`` and ``<name>.hwh``.

Standard library only, so that the workstation writes it (:func:`fpgagen.hls.accelerator.build_overlay`, the
virtual board) with the same class the board's driver reads it with (:mod:`fpgagen.host.driver`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from fpgagen.core.cache import write_atomic

MANIFEST_FORMAT = "fpgagen-overlay-1"
BEAT_FORMAT = "float32"
TLAST_RULE = "per-image-if-input-tlast"


class OverlayError(RuntimeError):
    """An overlay whose files or block design are not what the driver expects."""


WEIGHT_PLACEMENTS = ("loaded", "streamed")


def weight_dma_name(port: int) -> str:
    """The cell name of the MM2S-only AXI DMA feeding weight port ``port`` (beside the data DMA, in its hierarchy):
    the block design's and the virtual board's."""
    return f"axi_dma_w{port}"


@dataclass(frozen=True)
class WeightPort:
    """A weight port of the kernel and the MM2S-only AXI DMA that feeds it (in the manifest's hierarchy).

    Attributes:
        dma: the DMA's cell name.
        layer: the layer whose weights it carries.
        placement: ``loaded`` (one pass after the PL is programmed) or ``streamed`` (one pass per image).
        offset, nbytes: where the pass lies in the weights file.
    """

    dma: str
    layer: str
    placement: str
    offset: int
    nbytes: int


@dataclass(frozen=True)
class WeightsFile:
    """The weights of an overlay's loaded and streamed layers: a file beside the ``.bit`` holding every weight
    port's pass (the layout of :mod:`fpgagen.core.weight_stream`, beats of ``beat_bits``), and its digest.

    Attributes:
        file: its name, in the folder of the ``.bit``.
        sha256, nbytes: what it must hash to and how long it is.
        beat_bits: bits of a weight port's beat (the HP port's width).
        ports: one per weight port, in port order.
    """

    file: str
    sha256: str
    nbytes: int
    beat_bits: int
    ports: tuple[WeightPort, ...]

    def to_json(self) -> dict:
        return {**asdict(self), "ports": [asdict(p) for p in self.ports]}

    @classmethod
    def from_json(cls, doc, source: str) -> WeightsFile:
        """Build and check the ``weights`` entry of a manifest; OverlayError names what is wrong."""
        where = f"{source}: weights"
        if not isinstance(doc, dict):
            raise OverlayError(f"{where} must be an object, got {type(doc).__name__}")
        for key, kind in (("file", str), ("sha256", str), ("nbytes", int), ("beat_bits", int), ("ports", list)):
            if not isinstance(doc.get(key), kind) or isinstance(doc.get(key), bool):
                raise OverlayError(f"{where}.{key} must be a {kind.__name__}, got {doc.get(key)!r}")
        if Path(doc["file"]).name != doc["file"] or not doc["file"]:
            raise OverlayError(f"{where}.file must name a file beside the .bit, got {doc['file']!r}")
        if doc["beat_bits"] < 8 or doc["beat_bits"] % 8:
            raise OverlayError(f"{where}.beat_bits must be a positive multiple of 8, got {doc['beat_bits']}")
        ports = []
        for k, p in enumerate(doc["ports"]):
            try:
                port = WeightPort(str(p["dma"]), str(p["layer"]), str(p["placement"]), int(p["offset"]),
                                  int(p["nbytes"]))
            except (KeyError, TypeError, ValueError) as e:
                raise OverlayError(f"{where}.ports[{k}]: needs dma, layer, placement, offset, nbytes ({e})") from e
            beat = doc["beat_bits"] // 8
            if (port.placement not in WEIGHT_PLACEMENTS or not port.dma or port.nbytes <= 0 or port.nbytes % beat
                    or port.offset < 0 or port.offset + port.nbytes > doc["nbytes"]):
                raise OverlayError(f"{where}.ports[{k}]: {port} must be {' or '.join(WEIGHT_PLACEMENTS)}, name its "
                                   f"DMA and lie within the file's {doc['nbytes']} bytes in whole {beat}-byte beats")
            ports.append(port)
        if not ports or len({p.dma for p in ports}) != len(ports):
            raise OverlayError(f"{where}.ports must name one DMA per port, got {[p.dma for p in ports]}")
        return cls(doc["file"], doc["sha256"], doc["nbytes"], doc["beat_bits"], tuple(ports))

    def read(self, folder: str | Path) -> bytes:
        """The file's bytes, checked against the manifest: FileNotFoundError when missing, OverlayError when its
        length or digest differ (a truncated, damaged or foreign weights file), naming it."""
        path = Path(folder) / self.file
        if not path.is_file():
            raise FileNotFoundError(f"{path} does not exist: the overlay's weights ({len(self.ports)} weight ports: "
                                    f"{', '.join(p.layer for p in self.ports)}) lie beside its .bit")
        data = path.read_bytes()
        if len(data) != self.nbytes:
            raise OverlayError(f"{path}: {len(data)} bytes, the manifest says {self.nbytes} (a truncated or foreign "
                               "weights file: copy it again from the same build as the .bit)")
        digest = hashlib.sha256(data).hexdigest()
        if digest != self.sha256:
            raise OverlayError(f"{path}: sha256 {digest[:16]}..., the manifest says {self.sha256[:16]}... (a damaged "
                               "or foreign weights file: copy it again from the same build as the .bit)")
        return data

    @classmethod
    def describe(cls, file: str, data: bytes, beat_bits: int, passes) -> WeightsFile:
        """The entry for ``data`` written as ``file``; ``passes``: each weight port's pass (``port``, ``layer``,
        ``placement``, ``offset``, ``nbytes``: :func:`fpgagen.core.weights_file.weight_image`'s), fed by the DMA
        :func:`weight_dma_name` names."""
        return cls(file, hashlib.sha256(data).hexdigest(), len(data), beat_bits,
                   tuple(WeightPort(weight_dma_name(p.port), p.layer, p.placement, p.offset, p.nbytes)
                         for p in passes))


@dataclass(frozen=True)
class OverlayManifest:
    """The stream geometry of a generator overlay: ``<name>.json`` beside ``<name>.bit`` and ``<name>.hwh``.

    Attributes:
        preset: the generator preset the kernel was built from (informative).
        latent_dim: beats per latent.
        image_shape: (C, H, W) of one image; ``C * H * W`` beats per image, channels-last on the stream.
        beat: element format of one beat; only ``"float32"`` (hls4ml's float AXI types) is supported.
        tlast: the kernel's TLAST rule; only ``"per-image-if-input-tlast"`` (hls4ml's VivadoAccelerator
            wrapper: an image's last beat carries TLAST iff a beat of its latent did) is supported.
        hierarchy: block-design hierarchy holding the DMA and the kernel.
        dma: the AXI DMA's cell name inside ``hierarchy``.
        kernel: the kernel's cell name inside ``hierarchy`` (not addressable: ap_ctrl_none).
        board: the board the overlay was built for.
        weights: the weights of its loaded and streamed layers (None when every weight is in the bitstream).
    """

    preset: str
    latent_dim: int
    image_shape: tuple[int, int, int]
    beat: str = BEAT_FORMAT
    tlast: str = TLAST_RULE
    hierarchy: str = "hier_0"
    dma: str = "axi_dma_0"
    kernel: str = "myproject_axi_0"
    board: str = "pynq-z2"
    weights: WeightsFile | None = None

    @property
    def beats_per_image(self) -> int:
        c, h, w = self.image_shape
        return c * h * w

    def mismatches(self, model) -> list[str]:
        """How the stream contract differs from ``model`` (a QuantizedModel the kernel runs): name, latent size,
        image shape; [] when they agree."""
        found = []
        if model.name != self.preset:
            found.append(f"model {model.name!r} (the manifest says {self.preset!r})")
        if model.latent_dim != self.latent_dim:
            found.append(f"latent_dim {model.latent_dim} (the manifest says {self.latent_dim})")
        if tuple(model.image_shape) != tuple(self.image_shape):
            found.append(f"image_shape {tuple(model.image_shape)} (the manifest says {tuple(self.image_shape)})")
        placed = [(lr.name, lr.placement) for lr in model.layers if getattr(lr, "placement", "rom") != "rom"]
        ports = [(p.layer, p.placement) for p in self.weights.ports] if self.weights else []
        if placed != ports:
            found.append(f"weights off the ROMs {placed or 'none'} (the manifest's weight ports: {ports or 'none'})")
        return found

    def to_json(self) -> dict:
        doc = {"format": MANIFEST_FORMAT, **asdict(self), "image_shape": list(self.image_shape)}
        if self.weights is None:
            doc.pop("weights")  # an overlay with every weight in the bitstream: the manifest as it always was
        else:
            doc["weights"] = self.weights.to_json()
        return doc

    def save(self, path: Path) -> Path:
        write_atomic(Path(path), json.dumps(self.to_json(), indent=1) + "\n")
        return Path(path)

    @classmethod
    def from_json(cls, doc: dict, source: str = "manifest") -> OverlayManifest:
        """Build and check a manifest from its JSON document; OverlayError names what is wrong."""
        if not isinstance(doc, dict) or doc.get("format") != MANIFEST_FORMAT:
            found = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
            raise OverlayError(f"{source}: format {found!r}, expected {MANIFEST_FORMAT!r}")
        missing = [k for k in ("preset", "latent_dim", "image_shape") if k not in doc]
        if missing:
            raise OverlayError(f"{source}: missing field(s) {', '.join(missing)}")
        shape = doc["image_shape"]
        if (not isinstance(shape, list) or len(shape) != 3
                or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in shape)):
            raise OverlayError(f"{source}: image_shape must be [C, H, W] of positive integers, got {shape!r}")
        latent_dim = doc["latent_dim"]
        if isinstance(latent_dim, bool) or not isinstance(latent_dim, int) or latent_dim < 1:
            raise OverlayError(f"{source}: latent_dim must be a positive integer, got {latent_dim!r}")
        for key in ("preset", "hierarchy", "dma", "kernel", "board"):
            if key in doc and (not isinstance(doc[key], str) or not doc[key]):
                raise OverlayError(f"{source}: {key} must be a non-empty string, got {doc[key]!r}")
        if doc.get("beat", BEAT_FORMAT) != BEAT_FORMAT:
            raise OverlayError(f"{source}: beat format {doc['beat']!r} is not supported (only {BEAT_FORMAT!r})")
        if doc.get("tlast", TLAST_RULE) != TLAST_RULE:
            raise OverlayError(f"{source}: TLAST rule {doc['tlast']!r} is not supported (only {TLAST_RULE!r})")
        known = set(cls.__dataclass_fields__)
        fields = {k: v for k, v in doc.items() if k in known}
        fields["image_shape"] = tuple(shape)
        if doc.get("weights") is not None:
            fields["weights"] = WeightsFile.from_json(doc["weights"], source)
        return cls(**fields)

    @classmethod
    def load(cls, path: Path) -> OverlayManifest:
        """Read ``path``; FileNotFoundError or OverlayError say what is wrong."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path} does not exist: the overlay's stream manifest (latent_dim, "
                                    "image_shape, beat format) lies beside its .bit and .hwh")
        try:
            doc = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise OverlayError(f"{path}: not valid JSON ({e})") from e
        return cls.from_json(doc, str(path))

    @classmethod
    def beside(cls, bitfile: str | Path) -> OverlayManifest:
        """The manifest of the overlay whose bitstream is ``bitfile``."""
        return cls.load(Path(bitfile).with_suffix(".json"))
