"""Errors of the hls4ml flow that the command line reports (importing this module imports nothing heavy)."""

from __future__ import annotations


class ToolNotFoundError(ValueError):
    """A tool a step needs (g++, vivado_hls, vivado) is not on PATH; the message names it."""


class BuildError(RuntimeError):
    """Vivado HLS or Vivado ran but failed, or did not produce the bitstream / hardware handoff."""
