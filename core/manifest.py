"""The stream manifest of a generator overlay: ``<name>.json`` beside ``<name>.bit`` and ``<name>.hwh``.

Standard library only, so that the workstation writes it (:func:`fpgagen.hls.accelerator.build_overlay`, the
virtual board) with the same class the board's driver reads it with (:mod:`fpgagen.host.driver`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from fpgagen.core.cache import write_atomic

MANIFEST_FORMAT = "fpgagen-overlay-1"
BEAT_FORMAT = "float32"
TLAST_RULE = "per-image-if-input-tlast"


class OverlayError(RuntimeError):
    """An overlay whose files or block design are not what the driver expects."""


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
        return found

    def to_json(self) -> dict:
        return {"format": MANIFEST_FORMAT, **asdict(self), "image_shape": list(self.image_shape)}

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
