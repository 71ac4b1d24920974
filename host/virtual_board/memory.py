"""Host memory with physical addresses: the buffers ``allocate`` hands out on the virtual board, which the
emulated DMA resolves by address (an address no live buffer covers is a decode error, as on the board)."""

from __future__ import annotations

import bisect
import weakref

import numpy as np


class HostMemory:
    """Host memory with physical addresses: what ``allocate`` hands out and the DMA reads and writes.

    Buffers are placed first-fit, page aligned, in ``window`` (part of the board's DDR); a region is free again
    once its buffer (and every view of it) is garbage.
    """

    PAGE = 4096

    def __init__(self, window: tuple[int, int]):
        self.window = window
        self._starts: list[int] = []
        self._regions: dict[int, tuple[int, weakref.ref]] = {}

    @property
    def live_buffers(self) -> int:
        """How many allocated regions are still in use."""
        self._purge()
        return len(self._regions)

    def _purge(self) -> None:
        for start in [s for s, (_, ref) in self._regions.items() if ref() is None]:
            del self._regions[start]
            self._starts.remove(start)

    def allocate(self, nbytes: int) -> tuple[int, np.ndarray]:
        """(physical address, zeroed uint8 backing array) of a new region of ``nbytes``."""
        self._purge()
        size = max(self.PAGE, -(-nbytes // self.PAGE) * self.PAGE)
        addr = self.window[0]
        for start in self._starts:
            if start - addr >= size:
                break
            addr = max(addr, start + self._regions[start][0])
        if addr + size > self.window[1]:
            raise MemoryError(f"virtual board: no {size} contiguous bytes left in DDR window "
                              f"0x{self.window[0]:08x}-0x{self.window[1]:08x} (free buffers you no longer need)")
        raw = np.zeros(size, np.uint8)
        bisect.insort(self._starts, addr)
        self._regions[addr] = (size, weakref.ref(raw))
        return addr, raw

    def resolve(self, addr: int, nbytes: int) -> np.ndarray | None:
        """The live bytes at physical ``addr`` .. ``addr + nbytes``, or None where no buffer lies."""
        i = bisect.bisect_right(self._starts, addr) - 1
        if i < 0:
            return None
        start = self._starts[i]
        size, ref = self._regions[start]
        raw = ref()
        if raw is None or addr + nbytes > start + size:
            return None
        return raw[addr - start : addr - start + nbytes]
