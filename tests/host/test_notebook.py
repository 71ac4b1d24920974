"""The board notebook runs unchanged on the virtual board, in a kernel on this venv's interpreter."""

import json
import re
import sys
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="nbformat is not installed (pip install nbformat)")
nbclient = pytest.importorskip("nbclient", reason="nbclient is not installed (pip install nbclient)")
pytest.importorskip("ipykernel", reason="ipykernel is not installed: no Python kernel to run the notebook")
pytest.importorskip("matplotlib", reason="matplotlib is not installed: the notebook plots its images")

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
NOTEBOOK = NOTEBOOKS / "generator_overlay.ipynb"
KERNEL = "python3"


@pytest.fixture
def venv_kernel(tmp_path, monkeypatch):
    """A ``python3`` kernelspec on this interpreter, found first (JUPYTER_PATH precedes user and system dirs)."""
    spec = tmp_path / "jupyter" / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (fpgagen venv)", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    return KERNEL


def stream_text(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o["output_type"] == "stream")


def test_committed_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == KERNEL
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, "commit the notebook with outputs cleared"
    assert NOTEBOOK.stat().st_size < 20_000


def run_notebook(kernel: str, folder: Path, model: str | None = None):
    """The notebook executed in ``folder`` (MODEL set to ``model`` where given); its code cells' text and the
    notebook, and the seconds it took."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    if model is not None:
        parameters = nb.cells[1]
        parameters.source = re.sub(r'^MODEL = "[^"]*"', f"MODEL = {model!r}", parameters.source, flags=re.M)
        assert repr(model) in parameters.source
    nb.cells.append(nbformat.v4.new_code_cell("import sys; print('kernel interpreter:', sys.executable)"))
    t0 = time.perf_counter()
    client = nbclient.NotebookClient(nb, kernel_name=kernel, timeout=120, resources={"metadata": {"path": str(folder)}})
    client.execute()
    elapsed = time.perf_counter() - t0
    code = [c for c in nb.cells if c.cell_type == "code"]
    errors = [o for c in code for o in c.outputs if o["output_type"] == "error"]
    assert not errors, errors
    return "\n".join(stream_text(c) for c in code), nb, elapsed


def test_runs_on_virtual_board(venv_kernel, tmp_path):
    n_cells = len(nbformat.read(NOTEBOOK, as_version=4).cells)
    text, nb, elapsed = run_notebook(venv_kernel, tmp_path)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert f"kernel interpreter: {sys.executable}" in text
    assert "board: virtual" in text
    assert "grid: (64, 1, 28, 28) -> (224, 224, 1)" in text
    assert "interpolation row: (10, 1, 28, 28) -> (28, 280, 1)" in text
    assert re.search(r"^target\s+images/s\s+ms/call\s+pack us/img\s+DMA us/img\s+unpack us/img$", text, re.M)
    overlay_rate = re.search(r"^overlay \(virtual\)\s+(\d+)\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+[\d.]+$", text, re.M)
    cpu_rate = re.search(r"^CPU numpy float32\s+(\d+)\s+[\d.]+\s+-\s+-\s+-$", text, re.M)
    assert overlay_rate and cpu_rate, text
    assert int(overlay_rate.group(1)) > 0 and int(cpu_rate.group(1)) > 0
    # fixed point (9-bit data) vs float32 on the same latents: close, not equal
    psnr, diff = map(float, re.search(r"PSNR ([\d.]+) dB, max \|difference\| ([\d.]+)", text).groups())
    assert psnr >= 35 and 0 < diff < 1.0  # the QuantizedModel defaults hold PSNR >= 35 dB
    images = [o for c in code for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(images) == 2  # the grid and the interpolation row
    assert all(len(o["data"]["image/png"]) < 60_000 for o in images)  # small figures
    assert len(nb.cells) == n_cells + 1
    assert elapsed < 60, f"notebook took {elapsed:.1f} s"


def test_runs_an_imported_model_folder(venv_kernel, tmp_path):
    """MODEL set to a model folder from `fpgagen import` (a colour DCGAN of the user's own): the same cells run."""
    from fpgagen.cli import main

    (tmp_path / "rgb.py").write_text(RGB_GENERATOR)
    assert main(["import", f"{tmp_path / 'rgb.py'}:make", "--out", str(tmp_path / "rgb")]) == 0
    text, nb, _ = run_notebook(venv_kernel, tmp_path, str(tmp_path / "rgb"))
    assert "board: virtual" in text and "overlay rgb: latent (8,) -> image (3, 16, 16)" in text
    assert "grid: (64, 3, 16, 16) -> (128, 128, 3)" in text
    assert len([o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]) == 2


RGB_GENERATOR = """
import torch
from torch import nn


def make():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Unflatten(1, (4, 4, 4)),
                         nn.ConvTranspose2d(4, 4, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(4, 3, 4, 2, 1), nn.Tanh())
"""


def test_pynq_notebooks_entry_point():
    """``pynq get-notebooks`` finds package notebooks through the ``pynq.notebooks`` entry-point group."""
    from importlib.metadata import entry_points

    eps = {ep.name: ep.value for ep in entry_points(group="pynq.notebooks")}
    if "fpgagen" not in eps:
        pytest.skip("the pynq.notebooks entry point is not installed yet (pip install -e . after pyproject gains "
                    "[project.entry-points.\"pynq.notebooks\"] fpgagen = \"fpgagen.notebooks\")")
    assert eps["fpgagen"] == "fpgagen.notebooks"
    import fpgagen.notebooks

    assert (Path(fpgagen.notebooks.__path__[0]) / NOTEBOOK.name).is_file()
