"""One executor interface behind every target; the fixed-point targets agree bit for bit."""

from pathlib import Path

import numpy as np
import pytest

from fpgagen.cli import main
from fpgagen.core.latents import latents
from fpgagen.host.executors import EXECUTORS, get_executor
from fpgagen.host.subject import Subject
from fpgagen.models.presets import load_preset

FIXED_POINT = ["golden", "csim", "virtual-golden"]


@pytest.fixture(scope="module")
def digits8():
    return Subject.of(load_preset("digits8"))


@pytest.fixture(scope="module")
def digits8_images(digits8):
    z = latents(37, 16, seed=4)
    out = {}
    for target in ["torch", "numpy", *FIXED_POINT]:
        executor = get_executor(target, digits8.model_for(target)).prepare()
        try:
            out[target] = executor.run(z)
        finally:
            executor.close()
    return out


def test_fixed_point_targets_agree_bit_for_bit(digits8_images):
    for target in FIXED_POINT[1:]:
        assert digits8_images[target].shape == (37, 1, 8, 8)
        assert np.array_equal(digits8_images[target], digits8_images["golden"]), target


def test_fixed_point_is_close_to_float(digits8_images):
    err = np.abs(digits8_images["golden"] - digits8_images["torch"])
    assert err.mean() < 0.02 and err.max() < 0.3
    assert np.abs(digits8_images["numpy"] - digits8_images["torch"]).max() < 1e-5


def test_each_target_takes_its_model(digits8):
    assert digits8.model_for("torch") is digits8.generator
    assert digits8.model_for("numpy") is digits8.generator.float_model()
    assert digits8.model_for("golden") is digits8.model_for("rtlsim")  # quantized once
    assert get_executor("board", digits8.model_for("board")).bitfile == Path("overlays/pynq-z2/digits8.bit")


def test_run_validates_latents(digits8):
    executor = get_executor("golden", digits8.model_for("golden"))
    with pytest.raises(ValueError, match=r"shape \(N, 16\)"):
        executor.run(np.zeros((2, 3), np.float32))


def test_unknown_target(digits8):
    with pytest.raises(ValueError, match="unknown target 'fpga'; known targets: torch, numpy, golden"):
        get_executor("fpga", digits8.model_for("golden"))


def test_board_target_without_a_board_says_so(capsys, tmp_path):
    assert "board" in EXECUTORS
    assert main(["generate", "digits8", "--target", "board", "--out", str(tmp_path / "g.png")]) == 2
    assert "no PYNQ board found" in capsys.readouterr().err


def test_cli_generate_on_the_virtual_board(capsys, tmp_path):
    out = tmp_path / "grid.png"
    assert main(["generate", "digits8", "--target", "virtual-golden", "--n", "9", "--out", str(out)]) == 0
    assert out.is_file() and "9 images" in capsys.readouterr().out


def test_generate_on_the_board_target_takes_an_overlay_anywhere(board, models, tmp_path, monkeypatch):
    """`generate --target board --overlay PATH`: an overlay outside overlays/ (here a virtual one)."""
    import numpy as np

    from fpgagen.cli import main
    from fpgagen.core import golden
    from fpgagen.core.latents import latents
    from fpgagen.host import virtual_board as vb

    monkeypatch.setenv("FPGAGEN_VIRTUAL_BOARD", "1")
    bit = vb.write_virtual_overlay(models("digits8"), tmp_path / "elsewhere")
    out = tmp_path / "images.npy"
    assert main(["generate", "digits8", "--target", "board", "--overlay", str(bit), "--n", "5", "--seed", "2",
                 "--out", str(out)]) == 0
    np.testing.assert_array_equal(np.load(out), golden.generate(models("digits8"), latents(5, 16, 2)))


def test_generate_as_a_board_would_run_it(capsys, tmp_path):
    """`generate dcgan28 --board pynq-z2`: folded and placed for the PYNQ-Z2 (its dense and first transposed
    convolution streamed from DDR), run through the driver's weight DMAs on a virtual PYNQ-Z2, equal to golden."""
    import numpy as np

    from fpgagen.core import golden
    from fpgagen.core.latents import latents
    from fpgagen.host.subject import resolve_subject

    out = tmp_path / "images.npy"
    assert main(["generate", "dcgan28", "--board", "pynq-z2", "--target", "virtual-golden", "--n", "3",
                 "--out", str(out)]) == 0
    assert "3 images" in capsys.readouterr().out
    model = resolve_subject("dcgan28", board="pynq-z2").model_for("golden")
    assert {lr.placement for lr in model.layers if lr.weight is not None} == {"rom", "streamed"}
    np.testing.assert_array_equal(np.load(out), golden.generate(model, latents(3, model.latent_dim, 0)))


def test_a_target_given_the_wrong_kind_of_model_says_which_it_runs():
    from fpgagen.host.executors import get_executor
    from fpgagen.models.presets import load_preset

    generator = load_preset("digits8")
    with pytest.raises(TypeError, match=r"target 'golden' runs a QuantizedModel, got a Generator \(digits8\): "
                                        r"quantize it first"):
        get_executor("golden", generator)
    with pytest.raises(TypeError, match=r"target 'numpy' runs a FloatModel, got a Generator"):
        get_executor("numpy", generator)
    assert get_executor("numpy", generator.float_model()).run(np.zeros((1, 16), np.float32)).shape == (1, 1, 8, 8)
