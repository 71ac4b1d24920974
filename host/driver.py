"""The PYNQ driver of a generator overlay: latents in by AXI DMA, images back.

Imports nothing but numpy and pynq: it runs on the board's own Python, and unchanged on the virtual board
(:mod:`fpgagen.host.virtual_board`).

The overlay is hls4ml's VivadoAccelerator block design: Zynq PS + a hierarchy ``hier_0`` holding an AXI DMA
(``axi_dma_0``, simple mode, no interrupts) whose MM2S stream feeds the kernel and whose S2MM stream takes the
kernel's output. Beside ``<name>.bit`` and ``<name>.hwh`` lies the stream manifest ``<name>.json``
(:class:`OverlayManifest`), which says what the beats mean:

- one float32 per 32-bit beat; a latent is ``latent_dim`` beats, an image ``C * H * W`` beats in channels-last
  order (pixel ``(c, y, x)`` on beat ``(y * W + x) * C + c``);
- the kernel casts each float to its fixed-point input type, so the board's images equal the golden model's
  on the float32-rounded latents;
- TLAST: the DMA's MM2S marks the last beat of each transfer; the kernel marks the last beat of an image only
  when some beat of its latent carried TLAST, so a transfer of n latents comes back as exactly one S2MM packet
  of n images.

:class:`GeneratorDriver` is bound by PYNQ (``checkhierarchy``) to every hierarchy that holds one simple-mode AXI
DMA and is named by the manifest; ``ol.hier_0.generate(z)`` then works on a plain ``pynq.Overlay``.
:class:`GeneratorOverlay` loads an overlay and checks it on the way.

Batches larger than the DMA's maximum transfer (its length register is ``c_sg_length_width`` bits wide) are
split; two sets of buffers let packing of the next chunk and unpacking of the last overlap the DMA. Every wait
on the DMA is bounded: a channel that does not finish within ``timeout`` seconds raises :class:`DmaTimeoutError`
(pynq's own ``wait()`` polls forever); error bits in DMASR raise :class:`DmaError`.

**Weights off the ROMs.** An overlay whose ``loaded`` or ``streamed`` layers keep their weights outside the
bitstream names them in its manifest (:class:`~fpgagen.core.manifest.WeightsFile`): a file beside the ``.bit``
(``<name>.weights.bin``, checked against its length and sha256 when the driver binds: a missing, truncated or
foreign file is refused, naming it) and, per weight port of the kernel, an MM2S-only AXI DMA in the same
hierarchy. The driver sends a ``loaded`` port's pass once, when it binds and after every :meth:`reset` (the PL
programmed again); a ``streamed`` port's pass once per image, up to :data:`WEIGHT_BUFFER_BYTES` of passes per
transfer, the next transfer started as soon as one completes. The user's code does not change.

After a timeout or a DMA error the kernel may still hold beats of the failed call -- images it finished late,
latents it had not yet consumed -- and they would come back as the next call's images. So the driver refuses every
further call (:class:`OverlayFaultError`) until :meth:`GeneratorDriver.reset` has programmed the PL again. Calls
from several threads are serialized, one transfer sequence at a time per overlay.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from pynq import DefaultHierarchy, Overlay, allocate

from fpgagen.core.latents import check_latents
from fpgagen.core.manifest import BEAT_FORMAT, MANIFEST_FORMAT, TLAST_RULE, OverlayError, OverlayManifest, WeightPort
from fpgagen.core.quantized_model import QuantizedModel

__all__ = ["BEAT_FORMAT", "MANIFEST_FORMAT", "TLAST_RULE", "WEIGHT_BUFFER_BYTES", "DmaError", "DmaTimeoutError",
           "GeneratorDriver", "GeneratorOverlay", "OverlayError", "OverlayFaultError", "OverlayManifest"]

AXI_DMA_VLNV = "xilinx.com:ip:axi_dma:"

# AXI DMA (PG021) simple-mode status register: offsets and bits.
DMASR_OFFSET = {"MM2S": 0x04, "S2MM": 0x34}
DMASR_HALTED = 0x1
DMASR_IDLE = 0x2
DMASR_ERRORS = {0x10: "DMAIntErr (internal error: zero length, or a packet longer than the S2MM buffer)",
                0x20: "DMASlvErr (slave error: the memory interface refused an access)",
                0x40: "DMADecErr (decode error: the buffer address maps to no memory)"}


class DmaError(RuntimeError):
    """The AXI DMA set an error bit in its status register, or halted."""


class DmaTimeoutError(TimeoutError):
    """A DMA channel did not finish its transfer in time (a stalled kernel, or the wrong beat count)."""


class OverlayFaultError(RuntimeError):
    """The overlay failed an earlier call and refuses work until ``reset()`` has emptied its kernel."""


# Most bytes of streamed passes one weight transfer carries (a buffer of that size per streamed port): a few MB
# of contiguous memory, which the board's CMA gives readily, and few enough transfers per batch.
WEIGHT_BUFFER_BYTES = 16 << 20


@dataclass
class _WeightPort:
    """A weight port at run time: its manifest entry, its DMA, a buffer of ``passes`` copies of its pass, and the
    passes of the current call still to send (``remaining``) and in the transfer under way (``in_flight``)."""

    index: int
    spec: WeightPort
    dma: object
    passes: int
    buffer: object = None
    remaining: int = 0
    in_flight: int = 0

    @property
    def name(self) -> str:
        return f"weight port {self.index} ({self.spec.dma}: {self.spec.layer}, {self.spec.placement})"




@dataclass
class Timing:
    """Where the time of one :meth:`GeneratorDriver.generate` call went (seconds)."""

    pack: float = 0.0
    dma: float = 0.0
    unpack: float = 0.0
    total: float = 0.0
    images: int = 0
    transfers: int = 0


@dataclass
class BenchmarkResult:
    """What :meth:`GeneratorDriver.benchmark` measured.

    Attributes:
        images: images generated in all.
        batch: latents per ``generate`` call.
        latency_s: median wall time of one ``generate`` call of ``batch`` latents.
        images_per_s: images over the total wall time.
        pack_s_per_image, unpack_s_per_image: host time to pack latents / unpack images, per image.
        dma_s_per_image: time spent starting and waiting on the DMA (the kernel's share), per image.
        transfers: DMA transfer pairs issued.
    """

    images: int
    batch: int
    latency_s: float
    images_per_s: float
    pack_s_per_image: float
    unpack_s_per_image: float
    dma_s_per_image: float
    transfers: int

    def as_dict(self) -> dict:
        return asdict(self)


class GeneratorDriver(DefaultHierarchy):
    """Driver of the hierarchy holding the AXI DMA and the generator kernel (hls4ml's ``hier_0``).

    PYNQ binds it to a hierarchy of an overlay whose stream manifest names that hierarchy, so
    ``pynq.Overlay(path).hier_0`` is a GeneratorDriver. Buffers are allocated on first use and kept.

    Attributes:
        manifest: the overlay's :class:`OverlayManifest`.
        dma: the ``pynq.lib.dma.DMA`` driver of the hierarchy's AXI DMA.
        timeout: seconds one DMA transfer may take before :class:`DmaTimeoutError`.
        max_batch: most images per DMA transfer (also capped by the DMA's maximum transfer length).
        last_timing: :class:`Timing` of the last ``generate`` call.
    """

    def __init__(self, description, timeout: float = 5.0, max_batch: int = 256):
        super().__init__(description)
        self.manifest = OverlayManifest.beside(self._overlay.bitfile_name)
        self.dma = getattr(self, self.manifest.dma)
        if self.dma.sendchannel is None or self.dma.recvchannel is None:
            raise OverlayError(f"{self._dma_path} lacks an MM2S or S2MM channel")
        params = self.dma.description["parameters"]
        widths = {k: params.get(k) for k in ("c_m_axis_mm2s_tdata_width", "c_s_axis_s2mm_tdata_width")}
        if set(widths.values()) != {"32"}:
            raise OverlayError(f"{self._dma_path}: streams must be 32 bits wide for float32 beats, got {widths}")
        self.timeout = timeout
        self.max_batch = max_batch
        self.last_timing = Timing()
        self.fault: str | None = None  # why the last failed call failed, until reset()
        self._buffers: list[tuple[np.ndarray, np.ndarray]] = []
        self._lock = threading.RLock()
        self._weight_ports = self._bind_weight_ports()
        self._load_weights()

    @staticmethod
    def checkhierarchy(description) -> bool:
        """True for a hierarchy with one simple-mode AXI DMA, named by the overlay's manifest."""
        overlay = description.get("overlay")
        try:
            manifest = OverlayManifest.beside(overlay.bitfile_name)
        except (AttributeError, OSError, OverlayError):
            return False
        weight_dmas = {p.dma for p in manifest.weights.ports} if manifest.weights else set()
        dmas = {name: ip for name, ip in description["ip"].items()
                if str(ip.get("type", "")).startswith(AXI_DMA_VLNV)}
        data = [ip for name, ip in dmas.items() if name not in weight_dmas]
        if len(data) != 1 or not weight_dmas <= set(dmas):
            return False
        if any(ip.get("parameters", {}).get("c_include_sg", "0") != "0" for ip in dmas.values()):
            return False
        return manifest.hierarchy == description["fullpath"]

    # ------------------------------------------------------------------------------------------ geometry
    @property
    def latent_dim(self) -> int:
        return self.manifest.latent_dim

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.manifest.image_shape

    @property
    def max_transfer_bytes(self) -> int:
        """Longest transfer the DMA takes (``2**c_sg_length_width - 1`` bytes, from pynq's DMA driver)."""
        return int(self.dma.buffer_max_size)

    @property
    def images_per_transfer(self) -> int:
        """Images per DMA transfer: ``max_batch``, capped so both directions fit the DMA's length register."""
        beats = max(self.latent_dim, self.manifest.beats_per_image)
        fit = self.max_transfer_bytes // (4 * beats)
        if fit < 1:
            raise OverlayError(f"the DMA's maximum transfer of {self.max_transfer_bytes} bytes is shorter than one "
                               f"latent or image ({4 * beats} bytes)")
        return max(1, min(fit, self.max_batch))

    # ------------------------------------------------------------------------------------------ running
    def generate(self, z) -> np.ndarray:
        """Images (N, C, H, W) float32 for latents ``z`` (N, latent_dim), floating point.

        The latents travel as float32 (rounded from wider floats) and are cast to the kernel's fixed-point
        input type on the board. Raises ValueError for wrong shapes, dtypes or non-finite values,
        :class:`DmaTimeoutError` / :class:`DmaError` when the DMA stalls or fails, and :class:`OverlayFaultError`
        for every call after that until :meth:`reset`. Thread-safe: calls are serialized.
        """
        z = check_latents(z, self.latent_dim)
        with self._lock:
            if self.fault is not None:
                raise OverlayFaultError(
                    f"{self._dma_path}: refused, an earlier call failed ({self.fault}). The kernel may still hold "
                    "beats of that call, which would come back as this call's images: call reset() (it programs "
                    "the PL again, so the kernel starts empty) or download the overlay again")
            try:
                return self._generate(z)
            except (DmaError, DmaTimeoutError) as e:
                self.fault = f"{type(e).__name__}: {str(e)[:300]}"
                self._abort()
                raise

    def _generate(self, z: np.ndarray) -> np.ndarray:
        t0 = time.perf_counter()
        n = len(z)
        per = self.images_per_transfer
        self._ensure_buffers(min(per, n))
        c, h, w = self.image_shape
        images = np.empty((n, c, h, w), np.float32)
        timing = Timing(images=n)
        chunks = [(i, min(i + per, n)) for i in range(0, n, per)]
        self._pack(z, chunks[0], 0, timing)
        self._start(chunks[0], 0, timing)
        for k in range(1, len(chunks) + 1):
            if k < len(chunks):
                self._pack(z, chunks[k], k % 2, timing)
            self._wait(chunks[k - 1], timing)
            if k < len(chunks):
                self._start(chunks[k], k % 2, timing)
            self._unpack(images, chunks[k - 1], (k - 1) % 2, timing)
        timing.total = time.perf_counter() - t0
        self.last_timing = timing
        return images

    def benchmark(self, n: int = 1024, batch: int = 64, seed: int = 0) -> BenchmarkResult:
        """Generate ``n`` images in calls of ``batch`` latents (standard normal) and time the parts."""
        if n < 1 or batch < 1:
            raise ValueError(f"n and batch must be positive, got n={n}, batch={batch}")
        z = np.random.default_rng(seed).standard_normal((n, self.latent_dim)).astype(np.float32)
        self.generate(z[:batch])  # warm-up: allocates the buffers
        latencies, parts = [], Timing()
        t0 = time.perf_counter()
        for i in range(0, n, batch):
            self.generate(z[i : i + batch])
            t = self.last_timing
            latencies.append(t.total)
            parts.pack += t.pack
            parts.dma += t.dma
            parts.unpack += t.unpack
            parts.transfers += t.transfers
        wall = time.perf_counter() - t0
        return BenchmarkResult(images=n, batch=batch, latency_s=float(np.median(latencies)), images_per_s=n / wall,
                               pack_s_per_image=parts.pack / n, unpack_s_per_image=parts.unpack / n,
                               dma_s_per_image=parts.dma / n, transfers=parts.transfers)

    def reset(self) -> None:
        """Bring the kernel and the DMA back to a known-empty state, and accept calls again.

        It programs the PL again (``Overlay.download``): reconfiguring the fabric clears every register and FIFO
        of the kernel and reloads its block RAMs (the weight ROMs) from the bitstream, so no beat of a failed call
        survives, whatever state the kernel was stuck in; the DMA comes up halted and both channels are started
        again. A soft reset of the AXI DMA alone would not do: it aborts the DMA's transfers but leaves the
        kernel's pipeline as it was. On a PYNQ-Z2 this takes about a second; on the virtual board it builds a fresh
        kernel backend and DMA model. Buffers stay allocated.
        """
        with self._lock:
            self._overlay.download()
            self.dma.sendchannel.start()
            self.dma.recvchannel.start()
            for wp in self._weight_ports:
                wp.dma.sendchannel.start()
                wp.remaining = wp.in_flight = 0
            self.fault = None
            self._load_weights()

    def _abort(self) -> None:
        """After a failed call: stop the DMA's transfers (DMACR.Reset) so no late beat lands in a buffer the caller
        reuses; the kernel is emptied only by :meth:`reset`."""
        for dma in [self.dma, *(wp.dma for wp in self._weight_ports)]:
            try:
                dma.mmio.write(0x00, 0x4)
                deadline = time.monotonic() + 1.0
                while dma.mmio.read(0x00) & 0x4 and time.monotonic() < deadline:
                    pass
            except Exception:  # noqa: BLE001 -- best effort: the call's own error is what the caller needs
                pass

    def close(self) -> None:
        """Free the DMA buffers (they are allocated again on the next ``generate``)."""
        with self._lock:
            for buffers in self._buffers:
                for b in buffers:
                    b.freebuffer()
            self._buffers = []
            for wp in self._weight_ports:
                if wp.buffer is not None:
                    wp.buffer.freebuffer()
                    wp.buffer = None

    # ------------------------------------------------------------------------------------------ internals
    @property
    def _dma_path(self) -> str:
        return f"{self.description['fullpath']}/{self.manifest.dma}"

    def _ensure_buffers(self, images: int) -> None:
        if self._buffers and len(self._buffers[0][0]) >= images:
            return
        self.close()
        self._buffers = [(allocate(shape=(images, self.latent_dim), dtype=np.float32, target=self.device),
                          allocate(shape=(images, self.manifest.beats_per_image), dtype=np.float32,
                                   target=self.device)) for _ in range(2)]

    def _pack(self, z, chunk, slot, timing: Timing) -> None:
        t = time.perf_counter()
        lo, hi = chunk
        self._buffers[slot][0][: hi - lo] = z[lo:hi]
        timing.pack += time.perf_counter() - t

    # ------------------------------------------------------------------------------------------ weights
    def _bind_weight_ports(self) -> list[_WeightPort]:
        """The weight ports the manifest names, each with its DMA; the weights file checked (length, sha256)."""
        spec = self.manifest.weights
        if spec is None:
            return []
        self._weights_data = np.frombuffer(spec.read(Path(self._overlay.bitfile_name).parent), np.uint8)
        ports = []
        for k, port in enumerate(spec.ports):
            dma = getattr(self, port.dma, None)
            if dma is None or getattr(dma, "sendchannel", None) is None:
                raise OverlayError(f"{self.description['fullpath']}: the manifest's weight port {k} ({port.layer}) "
                                   f"needs an AXI DMA {port.dma!r} with an MM2S channel in the hierarchy")
            width = dma.description["parameters"].get("c_m_axis_mm2s_tdata_width")
            if str(width) != str(spec.beat_bits):
                raise OverlayError(f"{self.description['fullpath']}/{port.dma}: a {width}-bit stream, the weights "
                                   f"file is laid out in {spec.beat_bits}-bit beats")
            if port.nbytes > dma.buffer_max_size:
                raise OverlayError(f"{port.layer}: a pass of {port.nbytes} bytes exceeds {port.dma}'s largest "
                                   f"transfer ({dma.buffer_max_size} bytes)")
            passes = 1 if port.placement == "loaded" else max(1, min(self.max_batch, WEIGHT_BUFFER_BYTES // port.nbytes,
                                                                     dma.buffer_max_size // port.nbytes))
            ports.append(_WeightPort(k, port, dma, passes))
        return ports

    def _weight_buffer(self, wp: _WeightPort):
        if wp.buffer is None:
            one = self._weights_data[wp.spec.offset : wp.spec.offset + wp.spec.nbytes]
            wp.buffer = allocate(shape=(wp.passes * wp.spec.nbytes,), dtype=np.uint8, target=self.device)
            wp.buffer[:] = np.tile(one, wp.passes)
            wp.buffer.flush()
        return wp.buffer

    def _send_passes(self, wp: _WeightPort) -> None:
        """Start the port's next transfer: up to its buffer's passes of those still to send."""
        n = min(wp.passes, wp.remaining)
        wp.dma.sendchannel.transfer(self._weight_buffer(wp), nbytes=n * wp.spec.nbytes)
        wp.remaining -= n
        wp.in_flight = n

    def _load_weights(self) -> None:
        """Send every loaded port its pass (after the PL was programmed) and wait for the kernel to take them."""
        loaded = [wp for wp in self._weight_ports if wp.spec.placement == "loaded"]
        for wp in loaded:
            wp.remaining = 1
            self._send_passes(wp)
        deadline = time.monotonic() + self.timeout
        try:
            while any(wp.in_flight for wp in loaded):
                for wp in loaded:
                    if wp.in_flight and self._channel_idle(wp.dma, "MM2S", wp.name, "loading its weights"):
                        wp.dma.sendchannel.wait()
                        wp.in_flight = 0
                self._check_deadline(deadline, [wp for wp in loaded if wp.in_flight], "loading the weights")
        except (DmaError, DmaTimeoutError) as e:
            self.fault = f"{type(e).__name__}: {str(e)[:300]}"
            self._abort()
            raise
        for wp in loaded:  # taken: the buffer is not needed again until reset()
            wp.buffer.freebuffer()
            wp.buffer = None

    def _check_deadline(self, deadline: float, waiting: list[_WeightPort], what: str) -> None:
        if waiting and time.monotonic() > deadline:
            status = "; ".join(f"{wp.spec.dma} DMASR=0x{wp.dma.mmio.read(DMASR_OFFSET['MM2S']):08x}" for wp in waiting)
            raise DmaTimeoutError(f"{', '.join(wp.name for wp in waiting)} did not complete within {self.timeout:g} s "
                                  f"while {what}: the kernel is not taking its weights ({status})")

    # ------------------------------------------------------------------------------------------ transfers
    def _start(self, chunk, slot, timing: Timing) -> None:
        t = time.perf_counter()
        count = chunk[1] - chunk[0]
        for wp in self._weight_ports:  # the weights of these images first: the kernel needs them as latents arrive
            if wp.spec.placement == "streamed":
                wp.remaining = count
                self._send_passes(wp)
        inp, out = self._buffers[slot]
        self.dma.recvchannel.transfer(out, nbytes=count * self.manifest.beats_per_image * 4)
        self.dma.sendchannel.transfer(inp, nbytes=count * self.latent_dim * 4)
        timing.transfers += 1
        timing.dma += time.perf_counter() - t

    def _wait(self, chunk, timing: Timing) -> None:
        t = time.perf_counter()
        count = chunk[1] - chunk[0]
        deadline = time.monotonic() + self.timeout
        streamed = [wp for wp in self._weight_ports if wp.spec.placement == "streamed"]
        while any(wp.in_flight for wp in streamed):  # keep the weights coming while the kernel works
            for name in ("MM2S", "S2MM"):  # an error of the latents' DMA ends the wait at once
                self._channel_idle(self.dma, name, self._dma_path, f"latents {chunk[0]}..{chunk[1] - 1}")
            for wp in streamed:
                if wp.in_flight and self._channel_idle(wp.dma, "MM2S", wp.name, f"latents {chunk[0]}..{chunk[1] - 1}"):
                    wp.dma.sendchannel.wait()
                    wp.in_flight = 0
                    if wp.remaining:
                        self._send_passes(wp)
                        timing.transfers += 1
            self._check_deadline(deadline, [wp for wp in streamed if wp.in_flight],
                                 f"streaming the weights of latents {chunk[0]}..{chunk[1] - 1}")
        self._wait_channel("MM2S", self.dma.sendchannel, deadline, chunk)
        self._wait_channel("S2MM", self.dma.recvchannel, deadline, chunk)
        expected = count * self.manifest.beats_per_image * 4
        if self.dma.recvchannel.transferred != expected:
            raise DmaError(f"{self._dma_path} S2MM received {self.dma.recvchannel.transferred} bytes for latents "
                           f"{chunk[0]}..{chunk[1] - 1}, expected {expected} ({count} images of "
                           f"{self.manifest.beats_per_image} beats): the kernel's TLAST does not match the manifest")
        timing.dma += time.perf_counter() - t

    def _status(self, name: str) -> int:
        return self.dma.mmio.read(DMASR_OFFSET[name])

    def _channel_idle(self, dma, name: str, what: str, during: str) -> bool:
        """Whether a channel of ``dma`` finished its transfer; DmaError when it set an error bit or halted."""
        sr = dma.mmio.read(DMASR_OFFSET[name])
        errors = [text for bit, text in DMASR_ERRORS.items() if sr & bit]
        if errors:
            raise DmaError(f"{what} {name} failed on {during}: {'; '.join(errors)} (DMASR=0x{sr:08x})")
        if sr & DMASR_IDLE:
            return True
        if sr & DMASR_HALTED:
            raise DmaError(f"{what} {name} halted mid-transfer on {during} (DMASR=0x{sr:08x})")
        return False

    def _wait_channel(self, name: str, channel, deadline: float, chunk) -> None:
        """Poll DMASR until the channel is idle, an error bit is set or ``deadline`` passes."""
        during = f"latents {chunk[0]}..{chunk[1] - 1}"
        polls = 0
        while not self._channel_idle(self.dma, name, self._dma_path, during):
            if time.monotonic() > deadline:
                other = "S2MM" if name == "MM2S" else "MM2S"
                hint = ("the kernel is not consuming its input" if name == "MM2S"
                        else "the kernel did not produce the expected images with TLAST")
                raise DmaTimeoutError(
                    f"{self._dma_path} {name} ({'sendchannel' if name == 'MM2S' else 'recvchannel'}) did not "
                    f"complete within {self.timeout:g} s on {during}: {hint} "
                    f"(DMASR=0x{self._status(name):08x}; {other} DMASR=0x{self._status(other):08x})")
            polls += 1
            if polls > 1000:
                time.sleep(50e-6)
        channel.wait()  # idle already: pynq's own bookkeeping (invalidate, transferred)

    def _unpack(self, images, chunk, slot, timing: Timing) -> None:
        t = time.perf_counter()
        lo, hi = chunk
        c, h, w = self.image_shape
        images[lo:hi] = self._buffers[slot][1][: hi - lo].reshape(hi - lo, h, w, c).transpose(0, 3, 1, 2)
        timing.unpack += time.perf_counter() - t


class GeneratorOverlay(Overlay):
    """An overlay with a generator kernel, checked on loading: ``GeneratorOverlay(path).generate(z)``.

    Args:
        bitfile_name: path of ``<name>.bit``; ``<name>.hwh`` and ``<name>.json`` lie beside it.
        timeout: seconds a DMA transfer may take (see :class:`GeneratorDriver`).
        max_batch: most images per DMA transfer.
        download, ignore_version, device: as for ``pynq.Overlay``.

    Attributes:
        manifest: the stream manifest.
        generator: the :class:`GeneratorDriver` of the manifest's hierarchy.
    """

    def __init__(self, bitfile_name, timeout: float = 5.0, max_batch: int = 256, download: bool = True,
                 ignore_version: bool = False, device=None):
        bit = Path(bitfile_name)
        missing = [p.name for p in (bit, bit.with_suffix(".hwh"), bit.with_suffix(".json")) if not p.is_file()]
        if missing:
            raise FileNotFoundError(f"overlay {bit}: missing {', '.join(missing)} in {bit.parent} (an overlay is "
                                    f"{bit.stem}.bit, {bit.stem}.hwh and the stream manifest {bit.stem}.json)")
        self.manifest = OverlayManifest.beside(bit)
        if not download and self.manifest.weights and any(p.placement == "loaded" for p in self.manifest.weights.ports):
            raise OverlayError(f"overlay {bit}: its loaded layers take their weights once after the PL is programmed, "
                               "so it must be downloaded by the process that drives it (download=True)")
        quantized = bit.with_name(bit.stem + ".quantized")
        if (quantized / "model.json").is_file():  # fpgagen's overlays carry the QuantizedModel the kernel runs
            mismatches = self.manifest.mismatches(QuantizedModel.load(quantized))
            if mismatches:
                raise OverlayError(f"overlay {bit}: the kernel's QuantizedModel ({quantized.name}/) has "
                                   f"{'; '.join(mismatches)}: the overlay's files do not belong together (copy "
                                   "them from one `fpgagen build`)")
        try:
            super().__init__(str(bit), download=download, ignore_version=ignore_version, device=device)
        except (OverlayError, FileNotFoundError):
            raise
        except Exception as e:  # pynq / pynqmetadata parse errors come in many types
            raise OverlayError(f"overlay {bit}: pynq could not load it: {type(e).__name__}: {e}") from e
        hier = self.manifest.hierarchy
        if hier not in self.hierarchy_dict:
            found = ", ".join(sorted(self.hierarchy_dict)) or "none"
            raise OverlayError(f"{bit.with_suffix('.hwh')}: no hierarchy {hier!r} holding an AXI DMA (hierarchies: "
                               f"{found}; IP: {', '.join(sorted(self.ip_dict))})")
        self.generator = getattr(self, hier)
        if not isinstance(self.generator, GeneratorDriver):
            ips = ", ".join(f"{k} ({v['type']})" for k, v in self.hierarchy_dict[hier]["ip"].items())
            raise OverlayError(f"{bit.with_suffix('.hwh')}: hierarchy {hier!r} is not a DMA + kernel hierarchy: it "
                               f"needs one simple-mode AXI DMA named {self.manifest.dma!r}; it holds {ips or 'no IP'}")
        self.generator.timeout = timeout
        self.generator.max_batch = max_batch

    def generate(self, z) -> np.ndarray:
        """Images (N, C, H, W) float32 for latents (N, latent_dim); see :meth:`GeneratorDriver.generate`."""
        return self.generator.generate(z)

    def benchmark(self, n: int = 1024, batch: int = 64) -> BenchmarkResult:
        """See :meth:`GeneratorDriver.benchmark`."""
        return self.generator.benchmark(n, batch)

    def reset(self) -> None:
        """Empty the kernel after a failed call and accept calls again (:meth:`GeneratorDriver.reset`: the PL is
        programmed again), then pynq's own reset of the overlay's dictionaries."""
        self.generator.reset()
        super().reset()
