"""A user's own torch generator through `fpgagen import`, the model folder and the MODEL argument of every command:
checked against torch at import, refused clearly, and the same model whichever way it is named."""

from __future__ import annotations

import datetime
import json
import textwrap

import numpy as np
import pytest
import torch

from fpgagen.cli import main
from fpgagen.core import golden
from fpgagen.core.errors import LoweringError
from fpgagen.core.quantize import QuantConfig
from fpgagen.models.imports import SourceModel
from fpgagen.models.load import TOLERANCE, ImportCheckError, check_import, load_model, model_name
from fpgagen.models.model_folder import ModelFolderError, read_model_folder, write_model_folder
from fpgagen.models.quantize import quantize

USER_FILE = textwrap.dedent('''
    import torch
    import torch.nn.functional as F
    from torch import nn

    from fpgagen.models.torch_dcgan import DCGAN


    def make():
        torch.manual_seed(0)
        return DCGAN(nz=8, ngf=4)


    def plain():
        """No final activation: the output range comes from calibration."""
        torch.manual_seed(1)
        return nn.Sequential(nn.Linear(6, 32), nn.LeakyReLU(0.2), nn.Linear(32, 64), nn.Unflatten(1, (1, 8, 8)))


    def conv_first():
        return nn.Sequential(nn.Unflatten(1, (1, 2, 2)), nn.Conv2d(1, 1, 1))


    def softmax():
        return nn.Sequential(nn.Linear(4, 16), nn.Softmax(dim=1), nn.Unflatten(1, (1, 4, 4)))


    def not_a_module():
        return 3


    def wide():
        """3.98 M weights: 39.8 Mbit at the fallback 10 bits, more than any board's block RAM."""
        return nn.Sequential(nn.Linear(80, 3 * 128 * 128), nn.Unflatten(1, (3, 128, 128)), nn.Tanh())


    class Decoder(nn.Module):
        """pytorch/examples' VAE decoder (vae/main.py: fc3, fc4, decode), small: latent 8 -> 64 -> 1*8*8, flat."""

        def __init__(self):
            super().__init__()
            self.fc3 = nn.Linear(8, 64)
            self.fc4 = nn.Linear(64, 64)

        def forward(self, z):
            h3 = F.relu(self.fc3(z))
            return torch.sigmoid(self.fc4(h3))


    def vae_decoder():
        torch.manual_seed(3)
        return Decoder()


    def conv_flat():
        """A feature map flattened at the end: viewed back as (2, 4, 4), no reshape is needed."""
        torch.manual_seed(4)
        return nn.Sequential(nn.Linear(4, 16), nn.Unflatten(1, (1, 4, 4)), nn.Conv2d(1, 2, 3, padding=1),
                             nn.Flatten())
''')


@pytest.fixture(scope="module")
def user(tmp_path_factory):
    """The user's file, and its DCGAN's trained-looking weights as .pt and .safetensors."""
    from safetensors.torch import save_file

    folder = tmp_path_factory.mktemp("user")
    (folder / "my_gan.py").write_text(USER_FILE)
    namespace: dict = {}
    exec(compile(USER_FILE, "my_gan.py", "exec"), namespace)
    module = namespace["make"]()
    gen = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5, generator=gen)
                m.running_var.uniform_(0.5, 2.0, generator=gen)
                m.weight.uniform_(0.5, 1.5, generator=gen)
                m.bias.uniform_(-0.2, 0.2, generator=gen)
    torch.save(module.state_dict(), folder / "w.pt")
    save_file(module.state_dict(), str(folder / "w.safetensors"))
    return folder


def test_a_torch_file_imports_checked_against_torch_and_round_trips_through_its_folder(user, tmp_path):
    ref = f"{user / 'my_gan.py'}:make"
    generator = load_model(ref, user / "w.pt")
    spec = generator.spec
    assert (spec.name, spec.latent_dim, spec.image_shape, spec.output_range) == ("my_gan", 8, (3, 32, 32), (-1, 1))
    check = spec.source["check"]
    assert check["latents"] == 256 and check["relative"] <= TOLERANCE and check["framework"].startswith("torch")
    assert spec.source["weights_sha256"] and spec.source["sha256"] and spec.dataset is None
    assert "3x32x32" in spec.source["metrics"]
    # the same weights from safetensors: the same float model
    assert load_model(ref, user / "w.safetensors").float_model().digest() == generator.float_model().digest()

    folder = write_model_folder(generator, tmp_path / "my_gan")
    again = read_model_folder(folder)
    assert again.spec == spec and model_name(str(folder)) == "my_gan"
    assert again.float_model().digest() == generator.float_model().digest()
    z = generator.latents(16, seed=3)
    np.testing.assert_allclose(again.generate(z), generator.generate(z), atol=1e-5)  # torch rebuilt from the layers
    config = QuantConfig(data_width=16, weight_width=10)
    a, b = quantize(generator, config), quantize(load_model(str(folder)), config)
    assert [lr.to_json() for lr in a.layers] == [lr.to_json() for lr in b.layers]
    assert all(np.array_equal(x.weight, y.weight) and np.array_equal(x.bias, y.bias)
               for x, y in zip(a.layers, b.layers, strict=True) if x.weight is not None)


def test_import_command_then_every_command_takes_the_folder(user, tmp_path, capsys):
    out = tmp_path / "model"
    assert main(["import", f"{user / 'my_gan.py'}:make", "--weights", str(user / "w.pt"), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "import check: max |torch" in printed and "board: pynq-z2" in printed
    assert json.loads((out / "model.json").read_text())["source"]["check"]["relative"] <= TOLERANCE
    images = tmp_path / "images.npy"
    assert main(["generate", str(out), "--target", "golden", "--n", "8", "--seed", "4", "--out", str(images)]) == 0
    got = np.load(images)
    assert got.dtype == np.float32 and got.shape == (8, 3, 32, 32)
    generator = read_model_folder(out)
    want = golden.generate(quantize(generator), generator.latents(8, seed=4))
    np.testing.assert_array_equal(got, want)
    assert main(["eval", str(out)]) == 2
    assert "judge 1x28x28 and 1x8x8 digit images" in capsys.readouterr().err


def test_output_range_from_calibration_uniform_latents_and_digit_metrics_by_shape(user, tmp_path):
    generator = load_model(f"{user / 'my_gan.py'}:plain", distribution="uniform")
    spec = generator.spec
    assert spec.latents == "uniform" and spec.image_shape == (1, 8, 8) and spec.dataset == "digits8"
    assert "calibration latents" in spec.source["output_range"]
    lo, hi = spec.output_range
    images = generator.generate(generator.latents(512))
    assert lo < 0 < hi and images.min() >= lo - 0.5 * (hi - lo) and images.max() <= hi + 0.5 * (hi - lo)
    z = generator.latents(1000)
    assert z.min() >= -1 and z.max() < 1 and z.std() < 0.7  # uniform on [-1, 1): std 0.577
    assert load_model(f"{user / 'my_gan.py'}:plain", digit_metrics=False).spec.dataset is None
    # the float model the board's CPU runs keeps the distribution, so a board without torch draws the same latents
    from fpgagen.core.float_model import FloatModel

    fm = generator.float_model()
    assert fm.latents == "uniform" and FloatModel.load(fm.save(tmp_path / "plain.float.npz")).latents == "uniform"
    assert "latents" not in load_model(f"{user / 'my_gan.py'}:make").float_model().to_json()  # normal: as before


def test_the_import_check_refuses_a_model_that_differs_from_its_framework(user):
    generator = load_model(f"{user / 'my_gan.py'}:make", user / "w.pt")
    fm = generator.float_model()
    source = SourceModel(fm, lambda z: fm.run(z) + np.float32(1e-3), "a drifting framework")
    with pytest.raises(ImportCheckError, match=r"differs from a drifting framework by 0.001 = 0.0005 of the output"):
        check_import(source)


@pytest.mark.parametrize("factory, weights, error, message", [
    ("missing.py:make", None, FileNotFoundError, "does not exist"),
    ("my_gan.py:nothing", None, ValueError, "defines no function 'nothing'"),
    ("my_gan.py:not_a_module", None, ValueError, "returned a int, not a torch nn.Module"),
    ("my_gan.py:softmax", None, LoweringError, "Softmax"),
    ("my_gan.py:conv_first", None, ValueError, "pass --latent-dim"),
    ("my_gan.py:plain", "w.pt", ValueError, "do not fit the module: missing 0.weight"),
    ("my_gan.py:make", "pickle.pt", ValueError, "a pickled object, not a state_dict of tensors; fpgagen does not "
                                                "unpickle code"),
    ("my_gan.py:make", "junk.pt", ValueError, "not readable as a tensor file"),
])
def test_refusals_name_the_problem(user, factory, weights, error, message):
    torch.save({"x": datetime.date(2026, 11, 29)}, user / "pickle.pt")  # an object weights_only does not unpickle
    (user / "junk.pt").write_bytes(b"\x00" * 64)
    with pytest.raises(error, match=message):
        load_model(f"{user / factory}", user / weights if weights else None)


def test_an_unsupported_model_is_refused_before_anything_is_written(user, tmp_path, capsys):
    out = tmp_path / "never"
    assert main(["import", f"{user / 'my_gan.py'}:softmax", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "Softmax" in err and "Traceback" not in err and not out.exists()
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    assert main(["import", f"{user / 'my_gan.py'}:make", "--out", str(tmp_path / "taken")]) == 2
    assert "not an empty folder or a model folder" in capsys.readouterr().err
    assert (tmp_path / "taken" / "notes.txt").read_text() == "mine"
    with pytest.raises(ValueError, match="--latent-dim 5, but the module's first layer takes 8"):
        load_model(f"{user / 'my_gan.py'}:make", latent_dim=5)
    with pytest.raises(ValueError, match="model name '../up': use 1-64 letters"):
        load_model(f"{user / 'my_gan.py'}:make", name="../up")


def test_a_damaged_model_folder_is_refused(user, tmp_path):
    folder = write_model_folder(load_model(f"{user / 'my_gan.py'}:make", user / "w.pt"), tmp_path / "m")
    weights = folder / "weights.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelFolderError, match="sha256 is not the one model.json records"):
        read_model_folder(folder)
    doc = json.loads((folder / "model.json").read_text())
    (folder / "model.json").write_text(json.dumps({**doc, "name": "../../elsewhere"}))
    with pytest.raises(ModelFolderError, match="model name '../../elsewhere'"):
        read_model_folder(folder)
    for edit, field in (({"layers": doc["layers"][:-1]}, "layers"), ({"output_range": [0, 100]}, "output_range"),
                        ({"latent_dim": doc["latent_dim"] + 1, "latents": "uniform"}, "latent_dim, latents")):
        (folder / "model.json").write_text(json.dumps({**doc, **edit}))  # what the import check vouched for
        with pytest.raises(ModelFolderError, match=f"model.json: {field} changed since `fpgagen import` checked"):
            read_model_folder(folder)
    (folder / "model.json").write_text(json.dumps({k: v for k, v in doc.items() if k != "checked_sha256"}))
    with pytest.raises(ModelFolderError, match="no checked_sha256 .*: re-run `fpgagen import`"):
        read_model_folder(folder)
    (folder / "model.json").write_text(json.dumps({**doc, "format": "something-else"}))
    with pytest.raises(ModelFolderError, match="format 'something-else'"):
        read_model_folder(folder)
    (folder / "model.json").unlink()
    with pytest.raises(ValueError, match="is not a preset name"):  # no longer a model folder, nor anything else
        load_model(str(folder / "nothing"))
    with pytest.raises(FileNotFoundError, match="no model.json"):
        read_model_folder(folder)


def test_weights_no_board_holds_are_named_at_import(user, tmp_path, capsys):
    assert main(["import", f"{user / 'my_gan.py'}:wide", "--out", str(tmp_path / "wide")]) == 0
    out = capsys.readouterr().out
    assert ("warning: no board in pynq-z2, zcu104, zcu102 holds the 39.81 Mbit of weights of wide in block RAM "
            "(3,981,312 weights at 10 bits, the fallback widths (16, 10)") in out
    assert "pynq-z2 5.16 Mbit, zcu104 11.50 Mbit, zcu102 33.62 Mbit): at 8 bits or fewer per weight they would fit " \
           "zcu102" in out


# --------------------------------------------------------------------------------------------- flat decoders


@pytest.fixture(scope="module")
def vae_folder(user, tmp_path_factory):
    """pytorch/examples' VAE decoder (flat output) imported by the CLI with --image-shape 1,8,8."""
    out = tmp_path_factory.mktemp("vae") / "vae"
    assert main(["import", f"{user / 'my_gan.py'}:vae_decoder", "--image-shape", "1,8,8", "--out", str(out)]) == 0
    return out


def test_a_flat_decoder_imports_with_image_shape_and_its_folder_records_it(user, vae_folder, tmp_path, capsys):
    doc = json.loads((vae_folder / "model.json").read_text())
    assert doc["image_shape"] == [1, 8, 8] and doc["output_range"] == [0.0, 1.0] and doc["dataset"] == "digits8"
    assert [lr["kind"] for lr in doc["layers"]] == ["dense", "relu", "dense", "sigmoid", "reshape"]
    assert doc["layers"][-1]["shape"] == [1, 8, 8] and doc["source"]["output_range"] == "the final sigmoid"
    assert doc["source"]["check"]["relative"] <= TOLERANCE
    # later commands take the folder as it is: its image shape needs no flag, and a flag is refused
    images = tmp_path / "golden.npy"
    assert main(["generate", str(vae_folder), "--target", "golden", "--n", "8", "--seed", "4", "--out",
                 str(images)]) == 0
    got = np.load(images)
    generator = read_model_folder(vae_folder)
    assert got.shape == (8, 1, 8, 8)
    np.testing.assert_array_equal(got, golden.generate(quantize(generator), generator.latents(8, seed=4)))
    # the flat vector is viewed in C order, torch's view(-1, 1, 8, 8): the folder's float model is the decoder's
    namespace: dict = {}
    exec(compile(USER_FILE, "my_gan.py", "exec"), namespace)
    z = generator.latents(32, seed=5)
    with torch.no_grad():
        flat = namespace["vae_decoder"]()(torch.from_numpy(z)).numpy()
    np.testing.assert_allclose(generator.float_model().run(z), flat.reshape(-1, 1, 8, 8), atol=1e-6)
    imported = load_model(f"{user / 'my_gan.py'}:vae_decoder", image_shape=(1, 8, 8))
    np.testing.assert_allclose(imported.generate(z), flat.reshape(-1, 1, 8, 8), atol=1e-6)  # the torch target
    assert main(["generate", str(vae_folder), "--image-shape", "1,8,8", "--out", str(tmp_path / "g.png")]) == 2
    assert "is a model folder: it holds its weights, latent size, latent distribution and image shape" in \
        capsys.readouterr().err


@pytest.mark.slow(20)
def test_a_flat_decoder_is_bit_exact_on_csim_and_rtlsim(vae_folder, equals_golden):
    generator = read_model_folder(vae_folder)
    model = quantize(generator, QuantConfig(data_width=16, weight_width=10))  # its own widths: 45 output values
    z = generator.latents(8, seed=6)
    z[0] *= 5.0  # beyond the input type's range: saturating casts
    for target in ("csim", "rtlsim"):
        equals_golden(target, model, z)


@pytest.mark.parametrize("factory, image_shape, message", [
    ("vae_decoder", None, r"the module returns a flat \(N, 64\); a generator returns images \(N, C, H, W\): pass "
                          r"--image-shape C,H,W with C\*H\*W = 64"),
    ("vae_decoder", (1, 8, 7), r"returns a flat \(N, 64\), but --image-shape 1,8,7 holds 56 values"),
    ("make", (1, 8, 8), r"returns images \(N, 3, 32, 32\), not the --image-shape 1,8,8 given"),
    ("vae_decoder", (1, 8, 0), r"image shape \(1, 8, 0\): expected three positive integers"),
    ("conv_flat", (1, 4, 8), r"reshapes \(2, 4, 4\) to \(1, 4, 8\)"),
])
def test_image_shape_mismatches_are_refused(user, factory, image_shape, message):
    with pytest.raises(ValueError, match=message):
        load_model(f"{user / 'my_gan.py'}:{factory}", image_shape=image_shape)


def test_image_shape_agrees_with_images_and_views_a_flattened_feature_map(user, capsys):
    ref = f"{user / 'my_gan.py'}"
    assert load_model(f"{ref}:make", image_shape=(3, 32, 32)).spec.image_shape == (3, 32, 32)  # its own: accepted
    fm = load_model(f"{ref}:conv_flat", image_shape=(2, 4, 4)).float_model()
    assert [lr.kind for lr in fm.layers] == ["dense", "reshape", "conv2d"]  # flatten + view: no layer at all
    assert main(["sample", "digits8", "--image-shape", "1,8,8", "--out", "x.png"]) == 2
    assert "digits8 is a preset: --latent-dim, --latents, --image-shape and --name apply to imported models only" in \
        capsys.readouterr().err
