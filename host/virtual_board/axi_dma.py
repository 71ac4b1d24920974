"""The emulated AXI DMA (Xilinx PG021, direct register mode) between host memory and the kernel backend: its
register interface and the pump that moves beats MM2S -> kernel -> S2MM (:class:`AxiDmaModel`), and the MM2S-only
DMA that feeds a weight port of the kernel (:class:`WeightDmaModel`)."""

from __future__ import annotations

import numpy as np

from fpgagen.host.virtual_board.kernel import Beats, KernelBackend, VirtualBoardError
from fpgagen.host.virtual_board.memory import HostMemory


class _Channel:
    """State of one AXI DMA channel in direct register mode."""

    CR_RESET = 0x00010002
    SR_RESET = 0x00000001

    def __init__(self, name: str, offset: int):
        self.name, self.offset = name, offset
        self.reset()

    def reset(self) -> None:
        self.cr, self.sr = self.CR_RESET, self.SR_RESET
        self.addr = self.addr_msb = self.length = 0
        self.busy = False
        self.memory: np.ndarray | None = None  # uint32 view of the transfer's buffer
        self.done_beats = 0
        self.total_bytes = 0

    @property
    def running(self) -> bool:
        return not self.sr & 0x1

    def complete(self) -> None:
        self.busy = False
        self.memory = None
        self.sr |= 0x2 | 0x1000  # Idle, IOC_Irq

    def fail(self, bit: int) -> None:
        """Error: set the bit and Err_Irq, halt (RS cleared), abandon the transfer."""
        self.busy = False
        self.memory = None
        self.sr = (self.sr | bit | 0x4000 | 0x1) & ~0x2
        self.cr &= ~0x1


class AxiDmaModel:
    """The AXI DMA's register interface in direct register (simple) mode, after Xilinx PG021.

    Registers (byte offsets): MM2S_DMACR 0x00, MM2S_DMASR 0x04, MM2S_SA 0x18, MM2S_SA_MSB 0x1C, MM2S_LENGTH 0x28;
    S2MM_DMACR 0x30, S2MM_DMASR 0x34, S2MM_DA 0x48, S2MM_DA_MSB 0x4C, S2MM_LENGTH 0x58. DMACR: RS (bit 0),
    Reset (bit 2, resets both channels). DMASR: Halted (0), Idle (1), DMAIntErr (4), DMASlvErr (5), DMADecErr
    (6), IOC_Irq (12), Err_Irq (14); the IRQ bits clear on writing 1. Writing LENGTH of a running channel starts a
    transfer. MM2S sends TLAST on the last beat of each transfer. S2MM ends a transfer at TLAST (LENGTH then reads
    the bytes received); a buffer that fills before TLAST is DMAIntErr (a packet longer than LENGTH). A
    zero LENGTH is DMAIntErr, an address outside any buffer DMADecErr; errors halt the channel.

    Args:
        memory: the board's :class:`HostMemory`.
        kernel: the stream kernel between MM2S and S2MM.
        length_width: ``c_sg_length_width``, bits of the LENGTH registers.
    """

    def __init__(self, memory: HostMemory, kernel: KernelBackend, length_width: int = 26):
        self.memory = memory
        self.kernel = kernel
        self.length_mask = (1 << length_width) - 1
        self.mm2s = _Channel("MM2S", 0x00)
        self.s2mm = _Channel("S2MM", 0x30)
        self.injected: dict[str, int] = {}
        self.arm(None)

    def arm(self, faults) -> None:
        """Fail a transfer as ``faults.dma_error`` says (:class:`~fpgagen.host.virtual_board.faults.Faults`;
        None: none); transfers are counted from now."""
        self.planned_error = faults.dma_error_bit if faults else None
        self.planned_transfer = faults.error_on_transfer if faults else 0
        self.transfers = {"MM2S": 0, "S2MM": 0}

    def _channel(self, offset: int) -> tuple[_Channel, int]:
        return (self.mm2s, offset) if offset < 0x30 else (self.s2mm, offset - 0x30)

    def read(self, offset: int) -> int:
        self.pump()
        ch, reg = self._channel(offset)
        return {0x00: ch.cr, 0x04: ch.sr, 0x18: ch.addr, 0x1C: ch.addr_msb, 0x28: ch.length}.get(reg, 0)

    def write(self, offset: int, value: int) -> None:
        ch, reg = self._channel(offset)
        if reg == 0x00:
            self._write_cr(ch, value)
        elif reg == 0x04:
            ch.sr &= ~(value & 0x7000)
        elif reg == 0x18:
            ch.addr = value
        elif reg == 0x1C:
            ch.addr_msb = value
        elif reg == 0x28:
            ch.length = value & self.length_mask
            if ch.running:
                self._start(ch)
        self.pump()

    def _write_cr(self, ch: _Channel, value: int) -> None:
        if value & 0x4:
            self.mm2s.reset()
            self.s2mm.reset()
            return
        ch.cr = (value & ~0x4) | 0x2
        if value & 0x1 and not ch.running and not ch.sr & 0x70:
            ch.sr &= ~0x3  # running, not idle until a transfer completes (as the hardware after RS)
        elif not value & 0x1 and ch.running:
            ch.busy = False
            ch.memory = None
            ch.sr = (ch.sr | 0x1) & ~0x2

    def _start(self, ch: _Channel) -> None:
        ch.sr &= ~0x2
        ch.done_beats = 0
        ch.total_bytes = ch.length
        self.transfers[ch.name] += 1
        injected = self.injected.pop(ch.name, None)
        if self.planned_error and self.planned_error[0] == ch.name and self.transfers[ch.name] == self.planned_transfer:
            injected = self.planned_error[1]
        if injected:
            ch.fail(injected)
            return
        if ch.length == 0:
            ch.fail(0x10)
            return
        address = (ch.addr_msb << 32) | ch.addr
        span = self.memory.resolve(address, ch.length)
        if span is None:
            ch.fail(0x40)
            return
        self._load(ch, span)

    def _load(self, ch: _Channel, span: np.ndarray) -> None:
        """Begin the transfer of ``span`` (the buffer's bytes) on a channel whose checks passed."""
        words = -(-ch.length // 4)
        padded = np.zeros(words * 4, np.uint8)
        if ch is self.mm2s:
            padded[: ch.length] = span
            ch.memory = padded.view(np.uint32)
        else:
            ch.memory = span
        ch.busy = True

    def pump(self) -> None:
        """Move beats MM2S -> kernel -> S2MM while anything moves."""
        progress = True
        while progress:
            progress = False
            ch = self.mm2s
            if ch.busy:
                n = len(ch.memory)
                last = np.zeros(n - ch.done_beats, bool)
                last[-1] = True
                taken = self.kernel.consume(Beats(ch.memory[ch.done_beats :], last))
                if taken:
                    ch.done_beats += taken
                    progress = True
                if ch.done_beats >= n:
                    ch.complete()
            ch = self.s2mm
            if ch.busy:
                room = ch.total_bytes // 4 - ch.done_beats
                beats = self.kernel.produce(room)
                if len(beats):
                    start = ch.done_beats * 4
                    ch.memory[start : start + 4 * len(beats)] = beats.data.astype("<u4").view(np.uint8)
                    ch.done_beats += len(beats)
                    progress = True
                    if beats.last[-1]:
                        ch.length = ch.done_beats * 4
                        ch.complete()
                    elif ch.done_beats * 4 >= ch.total_bytes:
                        ch.length = ch.done_beats * 4
                        ch.fail(0x10)


class WeightDmaModel(AxiDmaModel):
    """An MM2S-only AXI DMA (``c_include_s2mm`` 0) feeding weight port ``port`` of the kernel.

    A transfer's bytes are handed to the kernel whole when it starts (``send_weights``: the kernel's model of the
    DMA FIFO and the DDR decides when each beat moves, :mod:`fpgagen.rtl.rtlsim`); it completes (Idle, IOC_Irq)
    once the kernel has taken the last of them (``weights_pending`` 0), so a kernel that never takes them keeps
    the DMA busy and the driver times out. A length that is not a whole number of beats of the port is DMAIntErr.
    The S2MM registers read 0 and ignore writes, as on a DMA built without that channel.
    """

    def __init__(self, memory: HostMemory, kernel: KernelBackend, port: int, length_width: int = 26):
        self.port = port
        super().__init__(memory, kernel, length_width)

    def read(self, offset: int) -> int:
        return super().read(offset) if offset < 0x30 else 0

    def write(self, offset: int, value: int) -> None:
        if offset < 0x30:
            super().write(offset, value)

    def _load(self, ch: _Channel, span: np.ndarray) -> None:
        try:
            self.kernel.send_weights(self.port, np.array(span, np.uint8))
        except VirtualBoardError:  # not whole beats of the port
            ch.fail(0x10)
            return
        ch.busy = True

    def pump(self) -> None:
        ch = self.mm2s
        if ch.busy:
            self.kernel.advance()
            if self.kernel.weights_pending(self.port) == 0:
                ch.complete()
