"""The AXI-Stream kernel behind the virtual board's DMA: the :class:`KernelBackend` base, the beats it moves
(:class:`Beats`), the golden-model kernel (:class:`GoldenBackend`) and a fault-injection kernel
(:class:`StalledBackend`).

Writing a kernel backend
------------------------
Subclass :class:`KernelBackend` and implement

- ``consume(beats) -> int``: take input beats (:class:`Beats`: 32-bit TDATA words + TLAST flags, in order) and
  return how many were accepted; fewer than offered is backpressure (TREADY low) and the DMA offers the rest
  again later.
- ``produce(max_beats) -> Beats``: hand over at most ``max_beats`` output beats available now, never past the
  first beat with TLAST (a packet end closes the S2MM transfer).
- optionally ``reset()`` (the PL is programmed again) and ``cycles`` (simulated clock cycles so far, or None).
- for a kernel with weight ports (the overlay's ``loaded`` and ``streamed`` layers, each fed by an MM2S-only AXI
  DMA: :class:`~fpgagen.host.virtual_board.axi_dma.WeightDmaModel`): ``set_weight_ports(ports, beat_bytes)``
  (from the manifest: (placement, bytes per pass) of each port), ``send_weights(port, data)`` (a DMA transfer
  handed over whole), ``weights_pending(port)`` (its bytes the kernel has not taken yet: the transfer completes at
  0) and ``advance()`` (run on what it holds while no latent arrives, e.g. take a loaded layer's pass). A kernel
  takes a loaded port's pass once, a streamed port's pass once per image; bytes it never takes keep the weight
  DMA busy, and the driver times out.

The DMA (:class:`~fpgagen.host.virtual_board.axi_dma.AxiDmaModel`) calls ``consume`` when MM2S has data and
``produce`` when S2MM has room, repeating while either makes progress, on every register access. A cycle-accurate
backend (the Verilator RTL twin, :mod:`fpgagen.host.virtual_board.rtlsim_backend`) advances its clock inside these
calls until it blocks; the golden backend computes whole images at once. Raise :class:`VirtualBoardError` for what
the real kernel would hang on.

Then make it available to virtual bitstreams by name in :mod:`fpgagen.host.virtual_board.registry`:
``register_backend(name, factory)`` with ``factory(model, overlay_dir, options) -> KernelBackend``, or, for a
backend whose module has heavy imports, an entry in ``LAZY_BACKENDS`` that imports and registers it the first time
its name is asked for (as ``rtlsim`` is). A backend's module imports this module, never the registry or the
device, so that the registry may import backends without a cycle.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fpgagen.core import golden
from fpgagen.core.quantized_model import QuantizedModel


class VirtualBoardError(RuntimeError):
    """The virtual board was asked to do something the real board could not do either (or would hang on)."""


@dataclass
class Beats:
    """A run of AXI-Stream beats.

    Attributes:
        data: (n,) uint32 TDATA words (a float32 beat is its bit pattern).
        last: (n,) bool TLAST flags.
    """

    data: np.ndarray
    last: np.ndarray

    def __len__(self) -> int:
        return len(self.data)

    @property
    def floats(self) -> np.ndarray:
        """The words as float32 values."""
        return self.data.view(np.float32)

    @classmethod
    def empty(cls) -> Beats:
        return cls(np.zeros(0, np.uint32), np.zeros(0, bool))

    @classmethod
    def from_floats(cls, values: np.ndarray, last: np.ndarray) -> Beats:
        return cls(np.ascontiguousarray(values, np.float32).view(np.uint32), np.asarray(last, bool))


class KernelBackend:
    """The AXI-Stream kernel behind the virtual DMA (see the module docstring for how to write one)."""

    name = "abstract"

    def consume(self, beats: Beats) -> int:
        """Accept input beats (in order); return how many were taken."""
        raise NotImplementedError

    def produce(self, max_beats: int) -> Beats:
        """At most ``max_beats`` output beats ready now, stopping at the first TLAST."""
        raise NotImplementedError

    def reset(self) -> None:
        """Forget all state (the PL was programmed again)."""

    @property
    def cycles(self) -> int | None:
        """Simulated clock cycles so far, or None for a backend without a clock."""
        return None

    # weight ports: none unless a backend has them
    weight_beat_bytes = 1  # bytes of a weight port's beat

    def set_weight_ports(self, ports: list[tuple[str, int]], beat_bytes: int) -> None:
        """The overlay's weight ports (placement, bytes per pass), from its manifest."""
        if ports:
            raise VirtualBoardError(f"the {self.name} kernel has no weight ports; the overlay names {len(ports)}")

    def send_weights(self, port: int, data: np.ndarray) -> None:
        """Take a weight DMA transfer on ``port`` (bytes, whole beats), after what the port holds already."""
        raise VirtualBoardError(f"the {self.name} kernel has no weight port {port}")

    def weights_pending(self, port: int) -> int:
        """Bytes sent to ``port`` the kernel has not taken yet."""
        raise VirtualBoardError(f"the {self.name} kernel has no weight port {port}")

    def advance(self) -> None:
        """Run on what the kernel holds (weights may arrive while no latent does)."""


class WeightPasses:
    """Bookkeeping of weight ports for a kernel without a clock: bytes queued per port, and how many images the
    weights taken so far allow (every loaded pass in, one pass of every streamed port per image)."""

    def __init__(self, ports: list[tuple[str, int]], beat_bytes: int):
        self.ports, self.beat_bytes = list(ports), int(beat_bytes)
        self.queued = [0] * len(self.ports)  # bytes sent and not taken
        self.loaded = [0] * len(self.ports)  # bytes of a loaded port's pass taken

    def send(self, port: int, nbytes: int) -> None:
        if not 0 <= port < len(self.ports):
            raise VirtualBoardError(f"the kernel has {len(self.ports)} weight ports, no port {port}")
        if nbytes % self.beat_bytes:
            raise VirtualBoardError(f"weight port {port}: {nbytes} bytes is not a whole number of "
                                    f"{self.beat_bytes}-byte beats")
        self.queued[port] += nbytes

    def take_loaded(self) -> None:
        for k, (placement, nbytes) in enumerate(self.ports):
            if placement == "loaded":
                take = min(self.queued[k], nbytes - self.loaded[k])
                self.queued[k] -= take
                self.loaded[k] += take

    def images_allowed(self, wanted: int) -> int:
        """How many of ``wanted`` images the weights allow now."""
        for k, (placement, nbytes) in enumerate(self.ports):
            if placement == "loaded" and self.loaded[k] < nbytes:
                return 0
            if placement == "streamed":
                wanted = min(wanted, self.queued[k] // nbytes)
        return wanted

    def take_images(self, n: int) -> None:
        for k, (placement, nbytes) in enumerate(self.ports):
            if placement == "streamed":
                self.queued[k] -= n * nbytes


class GoldenBackend(KernelBackend):
    """The golden-model kernel: **fpgagen.core.golden, not RTL** -- bit-exact results, no timing.

    Reproduces hls4ml's VivadoAccelerator wrapper ``myproject_axi``: reads ``latent_dim`` beats per image
    regardless of TLAST, casts each float32 beat to the input type (``input_t::value_type(in[i].data)``, via
    double, with the type's rounding and saturation), runs the network, and writes ``C*H*W`` beats per image in
    channels-last order with TLAST on the image's last beat iff a beat of its latent carried TLAST.
    Output is unbounded (never applies backpressure). With weight ports it computes an image only once its
    weights came in (:class:`WeightPasses`); it does not read their values (the RTL twin does).

    Args:
        model: the QuantizedModel the overlay was built from.
    """

    name = "golden"

    def __init__(self, model: QuantizedModel):
        self.model = model
        self.latent_dim = model.latent_dim
        self._weights = WeightPasses([], 1)
        self.reset()

    def reset(self) -> None:
        """Empty the streams and the weights taken (the ports stay: they are the overlay's)."""
        self._pending = Beats.empty()
        self._out = Beats.empty()
        self._weights = WeightPasses(self._weights.ports, self._weights.beat_bytes)

    def set_weight_ports(self, ports: list[tuple[str, int]], beat_bytes: int) -> None:
        self._weights = WeightPasses(ports, beat_bytes)

    @property
    def weight_beat_bytes(self) -> int:
        return self._weights.beat_bytes

    def send_weights(self, port: int, data: np.ndarray) -> None:
        self._weights.send(port, len(np.asarray(data, np.uint8).ravel()))
        self.advance()

    def weights_pending(self, port: int) -> int:
        return self._weights.queued[port]

    def advance(self) -> None:
        """Take loaded passes, then compute every held latent the streamed passes allow."""
        self._weights.take_loaded()
        images = self._weights.images_allowed(len(self._pending) // self.latent_dim)
        if images:
            whole = images * self.latent_dim
            self._run(Beats(self._pending.data[:whole], self._pending.last[:whole]))
            self._weights.take_images(images)
            self._pending = Beats(self._pending.data[whole:], self._pending.last[whole:])

    def consume(self, beats: Beats) -> int:
        self._pending = Beats(np.concatenate([self._pending.data, beats.data]),
                              np.concatenate([self._pending.last, beats.last]))
        self.advance()
        return len(beats)

    def _run(self, beats: Beats) -> None:
        z = beats.floats.reshape(-1, self.latent_dim).astype(np.float64)
        if not np.isfinite(z).all():
            raise VirtualBoardError("golden backend: a latent beat is NaN or Inf; what the HLS cast does with "
                                    "non-finite floats is not modelled (the driver rejects them)")
        images = golden.generate(self.model, z)  # (n, C, H, W) float32
        n = len(images)
        out = np.ascontiguousarray(images.transpose(0, 2, 3, 1)).reshape(n, -1)
        last = np.zeros(out.shape, bool)
        last[:, -1] = beats.last.reshape(n, self.latent_dim).any(axis=1)
        self._out = Beats(np.concatenate([self._out.data, out.reshape(-1).view(np.uint32)]),
                          np.concatenate([self._out.last, last.reshape(-1)]))

    def produce(self, max_beats: int) -> Beats:
        take = min(max_beats, len(self._out))
        ends = np.flatnonzero(self._out.last[:take])
        if len(ends):
            take = int(ends[0]) + 1
        head = Beats(self._out.data[:take], self._out.last[:take])
        self._out = Beats(self._out.data[take:], self._out.last[take:])
        return head


class StalledBackend(KernelBackend):
    """Fault injection: a kernel that never consumes its input, or consumes it and never produces.

    Args:
        stall: ``"input"`` (TREADY stays low: MM2S never finishes) or ``"output"`` (TVALID stays low: MM2S
            finishes, S2MM never does).
    """

    name = "stalled"

    def __init__(self, stall: str = "output"):
        if stall not in ("input", "output"):
            raise ValueError(f"stall must be 'input' or 'output', got {stall!r}")
        self.stall = stall

    def consume(self, beats: Beats) -> int:
        return 0 if self.stall == "input" else len(beats)

    def produce(self, max_beats: int) -> Beats:
        return Beats.empty()
