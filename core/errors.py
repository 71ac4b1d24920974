"""Errors the command line reports (importing this module imports nothing heavy)."""

from __future__ import annotations

from dataclasses import dataclass, field


class LoweringError(ValueError):
    """A model (torch module, ONNX graph, Keras model) fpgagen cannot lower to its layer vocabulary; the message
    names every offending node or layer and what is supported."""


class Unsupported(Exception):
    """Raised by a front end's lowering of one call, node or layer: what about it fpgagen does not implement (one
    text per attribute); the front end records them in :class:`Problems`."""

    def __init__(self, *problems: str):
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass
class Problems:
    """Everything unsupported about a model, by node or layer, reported in graph order as one :class:`LoweringError`."""

    _by_node: dict[str, tuple[int, list[str]]] = field(default_factory=dict)

    def add(self, index: int, label: str, text: str) -> None:
        """Record ``text`` against the node ``label`` at graph position ``index`` (-1: the module as a whole)."""
        self._by_node.setdefault(label, (index, []))[1].append(text)

    def __bool__(self) -> bool:
        return bool(self._by_node)

    def __len__(self) -> int:
        return len(self._by_node)

    def lines(self) -> list[str]:
        ordered = sorted(self._by_node.items(), key=lambda item: item[1][0])
        return [f"  {label}: {'; '.join(texts)}" for label, (_, texts) in ordered]


class ToolNotFoundError(ValueError):
    """A tool a step needs (g++, vivado_hls, vivado) is not on PATH; the message names it."""


class BuildError(RuntimeError):
    """Vivado HLS or Vivado ran but failed, or did not produce the bitstream / hardware handoff."""
