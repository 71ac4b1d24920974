"""Faults the virtual board injects, so that users rehearse what a board can do wrong and tests can drive it.

A :class:`Faults` comes from three places, merged in this order (a later one sets what it names):

1. the virtual bitstream: ``write_virtual_overlay(..., faults=...)`` (a Faults, a dict or a ``"key=value,..."``
   string), armed at every download of that overlay -- a flaky design stays flaky;
2. the environment: ``FPGAGEN_VIRTUAL_FAULTS="stall_output_after=100,slow=0.5"``, read at every download;
3. the board's attribute, changed between calls: ``board.faults = Faults(slow=0.5)`` (or a string; None clears
   it), kept until changed.

Counts (beats, images, transfers) start at the download, or at the assignment of ``board.faults``. What each
fault does, and what :class:`fpgagen.host.driver.GeneratorDriver` does about it:

========================  =====================================================  ==================================
fault                     the kernel / DMA                                       the driver
========================  =====================================================  ==================================
``stall_input_after=N``   takes N input beats in all, then holds TREADY low      MM2S times out: DmaTimeoutError
``stall_output_after=N``  sends N output beats in all, then holds TVALID low     S2MM times out: DmaTimeoutError
``slow=S``                each image leaves S seconds after its latent arrived   S2MM times out when S > timeout
``dma_error=CH:KIND``     transfer ``error_on_transfer`` (default 1) of channel  DmaError naming the DMASR bit
                          CH (mm2s, s2mm) fails with KIND: internal (DMAIntErr),
                          slave (DMASlvErr) or decode (DMADecErr)
``drop_tlast=K``          image K (1 = the first) ends without TLAST             S2MM runs into the next image:
                                                                                 DMAIntErr, or a timeout
``extra_tlast=K``         image K also carries TLAST on its first beat           S2MM ends early: DmaError (bytes)
``stall_weights_after=N`` the weight ports take N bytes in all, then hold        the weight DMA times out:
                          TREADY low (a weight transfer that stalls)             DmaTimeoutError naming the port
========================  =====================================================  ==================================

After any of these the driver refuses further calls until ``reset()`` (which programs the PL again: on the virtual
board a fresh kernel and DMA), because a kernel that stalled or ran late may still hold beats of the failed call,
and they would come back as the next call's images.
"""

from __future__ import annotations

import os
import time
from collections import deque
from dataclasses import asdict, dataclass, fields

import numpy as np

from fpgagen.host.virtual_board.kernel import Beats, KernelBackend

FAULTS_ENV = "FPGAGEN_VIRTUAL_FAULTS"
DMA_ERRORS = {"internal": 0x10, "slave": 0x20, "decode": 0x40}


@dataclass
class Faults:
    """What the virtual board does wrong (see the module docstring); every field off by default."""

    stall_input_after: int | None = None
    stall_output_after: int | None = None
    slow: float = 0.0
    dma_error: str | None = None
    error_on_transfer: int = 1
    drop_tlast: int | None = None
    extra_tlast: int | None = None
    stall_weights_after: int | None = None

    def __post_init__(self) -> None:
        for name in ("stall_input_after", "stall_output_after", "drop_tlast", "extra_tlast", "stall_weights_after"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise ValueError(f"fault {name}: a count >= 0, got {value!r}")
        if isinstance(self.slow, bool) or not isinstance(self.slow, int | float) or not 0 <= self.slow < 3600:
            raise ValueError(f"fault slow: seconds in [0, 3600), got {self.slow!r}")
        if isinstance(self.error_on_transfer, bool) or not isinstance(self.error_on_transfer, int) \
                or self.error_on_transfer < 1:
            raise ValueError(f"fault error_on_transfer: a transfer number >= 1, got {self.error_on_transfer!r}")
        if self.dma_error is not None:
            channel, _, kind = str(self.dma_error).partition(":")
            if channel.lower() not in ("mm2s", "s2mm") or kind not in DMA_ERRORS:
                raise ValueError(f"fault dma_error: CHANNEL:KIND with CHANNEL mm2s or s2mm and KIND one of "
                                 f"{', '.join(DMA_ERRORS)}, got {self.dma_error!r}")

    def __bool__(self) -> bool:
        return self != Faults()

    @property
    def dma_error_bit(self) -> tuple[str, int] | None:
        """(``"MM2S"`` | ``"S2MM"``, DMASR bit) of ``dma_error``."""
        if self.dma_error is None:
            return None
        channel, _, kind = self.dma_error.partition(":")
        return channel.upper(), DMA_ERRORS[kind]

    def as_dict(self) -> dict:
        """The fields that differ from the defaults."""
        default = asdict(Faults())
        return {k: v for k, v in asdict(self).items() if v != default[k]}

    def merged(self, other: Faults | None) -> Faults:
        """These faults with what ``other`` sets on top."""
        return Faults(**{**asdict(self), **(other.as_dict() if other else {})})

    @classmethod
    def of(cls, value) -> Faults:
        """A Faults from a Faults, a dict, a ``"key=value,..."`` string or None (no faults); ValueError names an
        unknown key or a bad value."""
        if value is None:
            return cls()
        if isinstance(value, Faults):
            return value
        if isinstance(value, str):
            return cls.parse(value)
        if not isinstance(value, dict):
            raise ValueError(f"faults: a Faults, a dict or a 'key=value,...' string, got {type(value).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(value) - known)
        if unknown:
            raise ValueError(f"unknown fault {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        return cls(**value)

    @classmethod
    def parse(cls, text: str) -> Faults:
        """``"stall_output_after=100,slow=0.5,dma_error=s2mm:slave"``: numbers where the field takes them."""
        kinds = {f.name: f.type for f in fields(cls)}
        doc: dict = {}
        for item in filter(None, (part.strip() for part in text.split(","))):
            key, sep, raw = item.partition("=")
            key = key.strip()
            if not sep or key not in kinds:
                raise ValueError(f"faults {text!r}: {item!r} is not KEY=VALUE with KEY one of {', '.join(kinds)}")
            raw = raw.strip()
            try:
                doc[key] = (float(raw) if key == "slow" else raw if key == "dma_error" else int(raw))
            except ValueError:
                raise ValueError(f"faults {text!r}: {key}={raw!r} is not a number") from None
        return cls(**doc)

    @classmethod
    def from_environment(cls) -> Faults:
        """The faults ``$FPGAGEN_VIRTUAL_FAULTS`` names (none when unset)."""
        text = os.environ.get(FAULTS_ENV, "")
        try:
            return cls.parse(text)
        except ValueError as e:
            raise ValueError(f"${FAULTS_ENV}: {e}") from None


class FaultyKernel(KernelBackend):
    """A kernel backend with :class:`Faults` applied to its streams: stalls, lateness and TLAST faults.

    The inner backend's output is taken as soon as it is ready and handed on as the faults allow. ``faults`` is
    read on every call, so a field changed between calls takes effect at once.

    Args:
        inner: the kernel (golden, rtlsim ...).
        faults: what to do wrong.
        latent_beats, image_beats: beats of one latent and of one image (from the stream manifest).
    """

    name = "faulty"

    def __init__(self, inner: KernelBackend, faults: Faults, latent_beats: int, image_beats: int):
        self.inner, self.faults = inner, faults
        self.latent_beats, self.image_beats = latent_beats, image_beats
        self._arrivals: deque[float] = deque()  # arrival time of each latent whose image has not wholly left
        self._queue = Beats.empty()
        self._withheld: dict[int, np.ndarray] = {}  # weight bytes a stalled weight port never passes on
        self.restart()

    def restart(self) -> None:
        """Count beats, images and weight bytes from now; what the kernel holds stays in it."""
        self.beats_in = self.beats_out = self._pulled = self.weight_bytes = 0

    def reset(self) -> None:
        self.inner.reset()
        self._arrivals.clear()
        self._queue = Beats.empty()
        self._withheld: dict[int, np.ndarray] = {}
        self.restart()

    @property
    def cycles(self) -> int | None:
        return self.inner.cycles

    # weight ports: the inner kernel's, with the weight stall applied
    def set_weight_ports(self, ports, beat_bytes: int) -> None:
        self.inner.set_weight_ports(ports, beat_bytes)

    @property
    def weight_beat_bytes(self) -> int:
        return self.inner.weight_beat_bytes

    def send_weights(self, port: int, data: np.ndarray) -> None:
        data = np.asarray(data, np.uint8).ravel()
        withheld = self._withheld.get(port, np.zeros(0, np.uint8))
        if self.faults.stall_weights_after is not None or len(withheld):
            give = max(0, (self.faults.stall_weights_after or 0) - self.weight_bytes) if not len(withheld) else 0
            give = min(give - give % self.weight_beat_bytes, len(data))  # whole beats
            self._withheld[port] = np.concatenate([withheld, data[give:]])
            data = data[:give]
        self.weight_bytes += len(data)
        self.inner.send_weights(port, data)

    def weights_pending(self, port: int) -> int:
        return self.inner.weights_pending(port) + len(self._withheld.get(port, ()))

    def advance(self) -> None:
        self.inner.advance()

    def consume(self, beats: Beats) -> int:
        offer = len(beats)
        if self.faults.stall_input_after is not None:
            offer = min(offer, max(0, self.faults.stall_input_after - self.beats_in))
        if not offer:
            return 0
        taken = self.inner.consume(Beats(beats.data[:offer], beats.last[:offer]))
        latents = (self.beats_in + taken) // self.latent_beats - self.beats_in // self.latent_beats
        self.beats_in += taken
        self._arrivals.extend([time.monotonic()] * latents)
        return taken

    def _pull(self) -> None:
        """Move what the inner kernel has ready into the queue, with the TLAST faults applied per image."""
        while True:
            beats = self.inner.produce(1 << 30)
            if not len(beats):
                return
            last = beats.last.copy()
            index = self._pulled + np.arange(len(beats))
            image, position = index // self.image_beats + 1, index % self.image_beats  # images counted from 1
            if self.faults.drop_tlast is not None:
                last[(image == self.faults.drop_tlast) & (position == self.image_beats - 1)] = False
            if self.faults.extra_tlast is not None and self.image_beats > 1:
                last[(image == self.faults.extra_tlast) & (position == 0)] = True
            self._pulled += len(beats)
            self._queue = Beats(np.concatenate([self._queue.data, beats.data]),
                                np.concatenate([self._queue.last, last]))

    def produce(self, max_beats: int) -> Beats:
        self._pull()
        take = min(max_beats, len(self._queue))
        if self.faults.stall_output_after is not None:
            take = min(take, max(0, self.faults.stall_output_after - self.beats_out))
        if self.faults.slow:
            now = time.monotonic()
            due = 0  # images at the head of the queue whose time has come
            while due < len(self._arrivals) and self._arrivals[due] + self.faults.slow <= now:
                due += 1
            take = min(take, max(0, due * self.image_beats - self.beats_out % self.image_beats))
        if take <= 0:
            return Beats.empty()
        ends = np.flatnonzero(self._queue.last[:take])
        if len(ends):
            take = int(ends[0]) + 1
        head = Beats(self._queue.data[:take], self._queue.last[:take])
        self._queue = Beats(self._queue.data[take:], self._queue.last[take:])
        done = (self.beats_out + take) // self.image_beats - self.beats_out // self.image_beats
        self.beats_out += take
        for _ in range(min(done, len(self._arrivals))):
            self._arrivals.popleft()
        return head
