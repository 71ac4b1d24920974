"""The virtual board itself: :class:`VirtualBoard`, a ``pynq.Device`` over host memory, the emulated AXI DMA and a
kernel backend, and :func:`activate`, which makes one pynq's active device."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import numpy as np
import pynq
from pynq.buffer import PynqBuffer
from pynq.pl_server.device import Device

from fpgagen.core.manifest import OverlayError, OverlayManifest
from fpgagen.core.quantized_model import QuantizedModel
from fpgagen.host.virtual_board.axi_dma import AxiDmaModel, WeightDmaModel
from fpgagen.host.virtual_board.faults import Faults, FaultyKernel
from fpgagen.host.virtual_board.hwh import PS_VIEWS, hwh_board, read_virtual_bitstream
from fpgagen.host.virtual_board.kernel import KernelBackend, VirtualBoardError
from fpgagen.host.virtual_board.memory import HostMemory
from fpgagen.host.virtual_board.registry import BACKENDS, backend_factory
from fpgagen.overlays.boards import DEFAULT_BOARD, Board, get_board

# The names PYNQ's images give the boards (/proc/device-tree/chosen/pynq_board), i.e. pynq.Device.name.
PYNQ_BOARD_NAMES = {"pynq-z2": "Pynq-Z2", "zcu102": "ZCU102", "zcu104": "ZCU104", "kv260": "KV260"}


def _forget_pynq_clocks() -> None:
    """Make pynq's ``Clocks`` read the current device's registers again.

    ``pynq.Clocks`` builds its implementation (Zynq-7000 SLCR or Zynq UltraScale+ CRL/CRF) once per process, for the
    first device it sees, and ``Clocks.set_device`` does not drop it; a real board never changes, a virtual one
    does. Dropping the cached instance (pynq's ``_real_instance``) makes the next access build it for
    ``Clocks.device``, which ``pynq.Overlay`` sets before it programs the clocks.
    """
    if "_real_instance" in vars(pynq.Clocks):
        del pynq.Clocks._real_instance


class VirtualBoard(Device):
    """A Zynq board without the board: ``pynq.Device`` over an emulated AXI DMA and a kernel backend.

    Args:
        tag: pynq's device tag (``virtual-<board>`` by default).
        backend: overrides the backend a virtual bitstream names: a KernelBackend instance, or a name
            registered with :func:`register_backend`.
        board: the board it starts as (:data:`fpgagen.overlays.boards.BOARDS`); it takes the board of the first
            overlay it parses while nothing is programmed and no buffer is live.

    Attributes:
        board: the :class:`fpgagen.overlays.boards.Board` it stands in for.
        kernel: the kernel backend of the programmed overlay (None before a download).
        dma: the :class:`AxiDmaModel` of the programmed overlay.
        memory: the :class:`HostMemory` buffers are allocated from.
        register_log: when a list, every register access is appended as (op, address, value).
        faults: the :class:`~fpgagen.host.virtual_board.faults.Faults` in effect (the overlay's, the
            environment's and this attribute's, merged); assign a Faults, a dict, a ``"key=value,..."`` string or
            None between calls (see :mod:`fpgagen.host.virtual_board.faults`).
    """

    _probe_priority_ = 300

    @classmethod
    def _probe_(cls):
        forced = os.environ.get("FPGAGEN_VIRTUAL_BOARD", "") not in ("", "0")
        return [cls()] if forced or not pynq.ps.ON_TARGET else []

    def __init__(self, tag: str | None = None, backend: KernelBackend | str | None = None,
                 board: str = DEFAULT_BOARD):
        super().__init__(tag or f"virtual-{board}")
        self.capabilities = {"REGISTER_RW": True, "MEMORY_MAPPED": False}
        self.backend_override = backend
        self.kernel: KernelBackend | None = None
        self.dma: AxiDmaModel | None = None
        self.weight_dmas: list[WeightDmaModel] = []  # one per weight port of the kernel, in port order
        self._faults_set: Faults | None = None  # board.faults = ...
        self._overlay_faults = Faults()  # the programmed overlay's and the environment's
        self._stream = (1, 1)  # beats of a latent and of an image, from the programmed overlay's manifest
        self._dma_windows: list[tuple[int, int, AxiDmaModel]] = []  # (base, size, model) of every DMA
        self._become(get_board(board))
        self._ids = itertools.count(1)
        self.bitfile_name = None
        self.timestamp = ""
        self.register_log: list | None = None
        self.clear_dict()

    def __repr__(self) -> str:
        kernel = self.kernel.name if self.kernel else "not programmed"
        return f"<VirtualBoard {self.tag} ({self.board.name}): {kernel}>"

    def _become(self, board: Board) -> None:
        """Stand in for ``board``: its name and CPU architecture, DDR window and PS clock registers."""
        self.board = board
        self.name = PYNQ_BOARD_NAMES.get(board.name, board.name)
        self.arch = board.arch  # what pynq's Clocks and PS code key on
        self.memory = HostMemory(board.ddr_window)
        self._ps_registers = {base: (size, dict(values))
                              for base, (size, values) in PS_VIEWS[board.ps].clock_registers.items()}
        _forget_pynq_clocks()

    def _adopt_board_of(self, hwh: Path) -> None:
        """Become the board the overlay was built for: the part of its .hwh, checked against its manifest."""
        board = hwh_board(hwh)
        try:
            named = OverlayManifest.load(hwh.with_suffix(".json")).board
        except (FileNotFoundError, OverlayError):
            named = None  # no stream manifest: the driver says so when it binds
        if named is not None and named != board.name:
            raise VirtualBoardError(f"{hwh}: the hardware handoff's part {board.part} is {board.name}'s, but the "
                                    f"overlay's manifest says board {named!r}")
        if board == self.board:
            return
        if self.dma is not None or self.memory.live_buffers:
            raise VirtualBoardError(f"this virtual board is a {self.board.name} with an overlay or buffers in use; an "
                                    f"overlay for {board.name} needs a board of its own: "
                                    f"activate(VirtualBoard(board={board.name!r}))")
        self._become(board)

    # ------------------------------------------------------------------------------------------ pynq.Device
    def get_bitfile_metadata(self, bitfile_name: str, partial: bool = False):
        """Parse ``<bitfile>.hwh`` with pynqmetadata, as pynq does on the board."""
        from pynqmetadata.frontends import Metadata
        from pynqmetadata.views.runtime import RuntimeMetadataParser

        hwh = Path(bitfile_name).with_suffix(".hwh")
        if not hwh.is_file():
            raise FileNotFoundError(f"{hwh} does not exist: pynq needs the hardware handoff beside the bitstream")
        try:
            parser = RuntimeMetadataParser(Metadata(input=str(hwh)))
        except Exception as e:  # ElementTree / pynqmetadata errors
            raise VirtualBoardError(f"{hwh}: not a hardware handoff pynq can read ({type(e).__name__}: {e})") from e
        self._adopt_board_of(hwh)
        return parser

    def download(self, bitstream, parser=None):
        """'Program the PL': read the virtual bitstream, build the kernel backend and the DMA model."""
        doc = read_virtual_bitstream(bitstream.bitfile_name)
        parser = parser or self.get_bitfile_metadata(bitstream.bitfile_name)
        dmas = {k: v for k, v in parser.ip_dict.items() if str(v.get("type", "")).startswith("xilinx.com:ip:axi_dma:")}
        bitfile = Path(bitstream.bitfile_name)
        manifest = _manifest_beside(bitfile)
        weights = manifest.weights if manifest else None
        ports = {f"{manifest.hierarchy}/{p.dma}": k for k, p in enumerate(weights.ports)} if weights else {}
        missing = [name for name in ports if name not in dmas]
        if missing:
            raise VirtualBoardError(f"{bitfile}: the manifest's weight DMA(s) {', '.join(missing)} are not in the "
                                    f"hardware handoff ({', '.join(dmas) or 'no AXI DMA'})")
        data = [name for name in dmas if name not in ports]
        if len(data) != 1:
            raise VirtualBoardError(f"{bitfile}: the virtual board emulates exactly one AXI DMA for latents and "
                                    f"images (besides one per weight port), the hardware handoff has {len(data)} "
                                    f"({', '.join(data) or 'none'})")
        overlay_faults = Faults.of(doc.get("faults")).merged(Faults.from_environment())
        self.kernel = self._make_kernel(doc, bitfile.parent)
        if weights:
            self.kernel.set_weight_ports([(p.placement, p.nbytes) for p in weights.ports], weights.beat_bits // 8)

        def width(desc) -> int:
            return int(desc["parameters"].get("c_sg_length_width", 26))

        desc = dmas[data[0]]
        self.dma = AxiDmaModel(self.memory, self.kernel, width(desc))
        self.weight_dmas = [WeightDmaModel(self.memory, self.kernel, k, width(dmas[name])) for name, k in ports.items()]
        self._dma_windows = [(int(d["phys_addr"]), int(d["addr_range"]), model) for d, model in
                             [(desc, self.dma), *((dmas[name], self.weight_dmas[k]) for name, k in ports.items())]]
        self._overlay_faults = overlay_faults
        self._stream = self._stream_of(doc, bitfile, manifest)
        self._arm_faults()
        super().post_download(bitstream, parser, self.name)

    def _stream_of(self, doc: dict, bitfile: Path, manifest: OverlayManifest | None) -> tuple[int, int]:
        """Beats of a latent and of an image: from the stream manifest, else (hls4ml's own overlays have none) from
        the QuantizedModel the kernel runs (loaded once more only for a kernel that does not hold it)."""
        if manifest is not None:
            return manifest.latent_dim, manifest.beats_per_image
        model = getattr(self.kernel, "model", None) or QuantizedModel.load(bitfile.parent / doc["quantized_model"])
        return model.latent_dim, int(np.prod(model.image_shape))

    @property
    def faults(self) -> Faults:
        return self._overlay_faults.merged(self._faults_set)

    @faults.setter
    def faults(self, value) -> None:
        self._faults_set = None if value is None else Faults.of(value)
        if self.dma is not None:
            self._arm_faults()

    def _arm_faults(self) -> None:
        """Put the faults in effect between the DMA and the kernel; their counts start now. A kernel already
        wrapped keeps what it holds (changing the faults does not empty the PL; a download does)."""
        faults = self.faults
        if isinstance(self.kernel, FaultyKernel):
            self.kernel.faults = faults
            self.kernel.restart()
        elif faults:
            self._plug(FaultyKernel(self.kernel, faults, *self._stream))
        self.dma.arm(faults)

    def _plug(self, kernel: KernelBackend) -> None:
        """Put ``kernel`` behind every DMA."""
        self.kernel = kernel
        for dma in [self.dma, *self.weight_dmas]:
            dma.kernel = kernel

    def _make_kernel(self, doc: dict, folder: Path) -> KernelBackend:
        override = self.backend_override
        if isinstance(override, KernelBackend):
            override.reset()
            return override
        name = override or doc.get("backend", "golden")
        if backend_factory(name) is None:
            raise VirtualBoardError(f"kernel backend {name!r} is not registered ({', '.join(sorted(BACKENDS))})")
        model = QuantizedModel.load(folder / doc["quantized_model"])
        return BACKENDS[name](model, folder, doc.get("options", {}))

    def gen_cache(self, bitstream, parser=None):
        """No metadata cache: the virtual board keeps nothing between processes."""

    def allocate(self, shape, dtype, cacheable=0, **kwargs):
        """A PynqBuffer in host memory at a physical address the emulated DMA resolves."""
        dtype = np.dtype(dtype)
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        address, raw = self.memory.allocate(nbytes)
        return PynqBuffer(shape, dtype, buffer=raw, device=self, device_address=address,
                          bo=next(self._ids), coherent=not cacheable)

    def flush(self, bo, offset, ptr, size):
        """Cache flush before the DMA reads: host memory is coherent here."""

    def invalidate(self, bo, offset, ptr, size):
        """Cache invalidate after the DMA writes: host memory is coherent here."""

    # ------------------------------------------------------------------------------------------ registers
    def _decode(self, address: int, op: str):
        for base, size, dma in self._dma_windows:
            if base <= address < base + size:
                return dma, address - base
        for base, (size, _) in self._ps_registers.items():
            if base <= address < base + size:
                return base, address - base
        if self.dma is None and self.board.dma_base <= address < self.board.dma_base + self.board.dma_range:
            raise VirtualBoardError("virtual board: the PL is not programmed (load the overlay with download=True)")
        raise VirtualBoardError(f"virtual board: {op} at 0x{address:08x} hits no slave (the real board would "
                                "hang or raise a bus error)")

    def read_registers(self, address: int, length: int) -> bytes:
        """pynq's REGISTER_RW read hook: ``length`` bytes at physical ``address``."""
        words = []
        for a in range(address, address + length, 4):
            target, offset = self._decode(a, "read")
            value = (target.read(offset) if isinstance(target, AxiDmaModel)
                     else self._ps_registers[target][1].get(offset, 0))
            words.append(value & 0xFFFFFFFF)
            if self.register_log is not None:
                self.register_log.append(("read", a, value))
        return np.array(words, "<u4").tobytes()[:length]

    def write_registers(self, address: int, data: bytes) -> None:
        """pynq's REGISTER_RW write hook."""
        values = np.frombuffer(bytes(data).ljust(-(-len(data) // 4) * 4, b"\0"), "<u4")
        for i, value in enumerate(values):
            a = address + 4 * i
            target, offset = self._decode(a, "write")
            if self.register_log is not None:
                self.register_log.append(("write", a, int(value)))
            if isinstance(target, AxiDmaModel):
                target.write(offset, int(value))
            else:
                self._ps_registers[target][1][offset] = int(value)

    # ------------------------------------------------------------------------------------------ test hooks
    def replace_kernel(self, backend: KernelBackend) -> None:
        """Put ``backend`` behind the DMA of the programmed overlay (e.g. a :class:`StalledBackend`)."""
        if self.dma is None:
            raise VirtualBoardError("virtual board: no overlay programmed yet")
        self._plug(backend)

    def inject_dma_error(self, channel: str, error: str = "slave") -> None:
        """Make the next transfer on ``channel`` (``"mm2s"`` / ``"s2mm"``) fail with ``error``: ``"internal"``
        (DMAIntErr), ``"slave"`` (DMASlvErr) or ``"decode"`` (DMADecErr)."""
        bits = {"internal": 0x10, "slave": 0x20, "decode": 0x40}
        if channel.upper() not in ("MM2S", "S2MM") or error not in bits:
            raise ValueError(f"channel must be mm2s/s2mm and error one of {', '.join(bits)}")
        if self.dma is None:
            raise VirtualBoardError("virtual board: no overlay programmed yet")
        self.dma.injected[channel.upper()] = bits[error]

    @property
    def kernel_cycles(self) -> int | None:
        """Simulated kernel cycles so far (None for the golden backend)."""
        return self.kernel.cycles if self.kernel else None


def _manifest_beside(bitfile: Path) -> OverlayManifest | None:
    """The stream manifest beside ``bitfile``, or None (hls4ml's own overlays have none; a damaged one is the
    driver's to report when it binds)."""
    try:
        return OverlayManifest.beside(bitfile)
    except (FileNotFoundError, OverlayError):
        return None


def activate(board: VirtualBoard | None = None) -> VirtualBoard:
    """Make ``board`` (a new VirtualBoard by default) pynq's active device and list it in ``Device.devices``.

    Needed only when pynq probed devices before this module was imported, or to start from a fresh board.
    """
    board = board or VirtualBoard()
    _forget_pynq_clocks()
    Device._devices = [d for d in Device.devices if not isinstance(d, VirtualBoard)] + [board]
    Device.active_device = board
    return board
