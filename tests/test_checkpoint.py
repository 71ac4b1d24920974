import pytest
import torch
from safetensors.torch import load_file, save_file

from fpgagen.cli import main
from fpgagen.models.checkpoint import FORMAT, CheckpointError, save_checkpoint
from fpgagen.models.presets import get_preset, load_preset


@pytest.fixture
def digits8_checkpoint(tmp_path):
    torch.manual_seed(0)
    generator = get_preset("digits8").make_generator().eval()
    return save_checkpoint(tmp_path / "digits8.safetensors", "digits8", {"generator": generator}), generator


def rewrite(path, change):
    tensors = load_file(str(path))
    change(tensors)
    save_file(tensors, str(path), metadata={"format": FORMAT, "model": "digits8"})


def test_round_trip(digits8_checkpoint):
    path, generator = digits8_checkpoint
    loaded = load_preset("digits8", path).module
    for (k, a), (_, b) in zip(generator.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert torch.equal(a, b), k


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.safetensors does not exist"):
        load_preset("digits8", tmp_path / "nothere.safetensors")


def test_corrupt_file(digits8_checkpoint):
    path, _ = digits8_checkpoint
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        load_preset("digits8", path)


def test_not_a_fpgagen_checkpoint(tmp_path):
    path = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(path))
    with pytest.raises(CheckpointError, match="not a fpgagen checkpoint"):
        load_preset("digits8", path)


def test_checkpoint_of_another_preset(digits8_checkpoint):
    path, _ = digits8_checkpoint
    with pytest.raises(CheckpointError, match="checkpoint of 'digits8', not of 'mnist28'"):
        load_preset("mnist28", path)


def test_every_mismatch_is_named(digits8_checkpoint):
    path, _ = digits8_checkpoint

    def damage(t):
        t["generator.0.weight"] = torch.zeros(3, 16)
        del t["generator.1.running_var"]
        t["generator.9.extra"] = torch.zeros(1)
        t["generator.8.bias"] = torch.tensor([float("nan")])
        t["generator.5.weight"] = t["generator.5.weight"].double()

    rewrite(path, damage)
    with pytest.raises(CheckpointError) as info:
        load_preset("digits8", path)
    message = str(info.value)
    assert "generator.0.weight: shape (3, 16) in file, model expects (256, 16)" in message
    assert "missing tensors: generator.1.running_var" in message
    assert "unexpected tensors: generator.9.extra" in message
    assert "generator.8.bias: holds NaN or Inf" in message
    assert "generator.5.weight: dtype torch.float64 in file, model expects torch.float32" in message


def test_cli_reports_a_bad_checkpoint(digits8_checkpoint, tmp_path, capsys):
    path, _ = digits8_checkpoint
    assert main(["sample", "mnist28", "--checkpoint", str(path), "--out", str(tmp_path / "g.png")]) == 2
    assert "not of 'mnist28'" in capsys.readouterr().err


def test_a_negative_batchnorm_variance_is_refused_by_name(digits8_checkpoint, tmp_path, capsys):
    """Finite, yet the output would be NaN: refused at load with the tensor named, and no image is written."""
    path, _ = digits8_checkpoint

    def negative(t):
        t["generator.1.running_var"][3] = -0.5

    rewrite(path, negative)
    with pytest.raises(CheckpointError, match=r"generator.1.running_var: 1 of 256 values at or below -eps \(lowest "
                                              r"-0.5\)"):
        load_preset("digits8", path)
    for command in (["sample", "digits8"], ["generate", "digits8", "--target", "torch"]):
        out = tmp_path / f"{command[0]}.png"
        assert main([*command, "--checkpoint", str(path), "--out", str(out)]) == 2
        assert "would make the output NaN" in capsys.readouterr().err and not out.exists()
