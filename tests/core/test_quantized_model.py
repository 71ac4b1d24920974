"""The QuantizedModel: what quantize() chooses, its files, and the errors an inconsistent one raises."""

import json
import shutil

import numpy as np
import pytest

from fpgagen.core.fixed import FixedType
from fpgagen.core.latents import latents
from fpgagen.core.layers import ARITHMETIC
from fpgagen.core.quantize import QuantConfig
from fpgagen.core.quantized_model import QuantizedModel, QuantizedModelError
from fpgagen.models.presets import load_preset
from fpgagen.models.quantize import quantize
from fpgagen.models.sampling import generate

DEPLOYABLE = ["digits8", "mnist28", "vae28"]


@pytest.fixture(scope="module")
def digits8():
    return quantize(load_preset("digits8"))


@pytest.fixture
def saved(digits8, tmp_path):
    return digits8.save(tmp_path / "qm")


def test_the_float_model_folds_batchnorm_and_keeps_the_function():
    generator = load_preset("mnist28")
    z = latents(64, 64, seed=1)
    kinds = [lr.kind for lr in generator.float_model().layers]
    assert kinds == ["dense", "leaky_relu", "reshape", "upsample", "conv2d", "leaky_relu", "upsample", "conv2d", "tanh"]
    assert np.abs(generator.float_model().run(z) - generate(generator.module, z)).max() < 1e-5


@pytest.mark.parametrize("preset", DEPLOYABLE)
def test_every_type_is_explicit_and_accumulators_exact(preset):
    model = quantize(load_preset(preset))
    x_t = model.input_t
    assert x_t.rounding == "RND" and x_t.overflow == "SAT"
    for layer in model.layers:
        assert layer.result_t is not None
        if layer.kind in ARITHMETIC:
            assert layer.accum_t.frac == x_t.frac + layer.weight_t.frac
            assert layer.result_t.rounding == "RND" and layer.result_t.overflow == "SAT"
            assert layer.multipliers * layer.reuse_factor == layer.weight.size
        if layer.kind in ("tanh", "sigmoid"):
            assert layer.table_size == 1024 and layer.table_t is not None
        x_t = layer.result_t
    assert sum(lr.multipliers for lr in model.layers) <= 220  # the PYNQ-Z2's DSP slices


def test_save_load_round_trip(digits8, saved):
    loaded = QuantizedModel.load(saved)
    assert loaded.input_t == digits8.input_t and loaded.output_range == digits8.output_range
    for a, b in zip(digits8.layers, loaded.layers, strict=True):
        assert a.to_json() == b.to_json()
        for key in ("weight", "bias"):
            if getattr(a, key) is not None:
                assert np.array_equal(getattr(a, key), getattr(b, key))


def edit_json(folder, change):
    doc = json.loads((folder / "model.json").read_text())
    change(doc)
    (folder / "model.json").write_text(json.dumps(doc))


@pytest.mark.parametrize("change, message", [
    (lambda d: d["layers"][0].update(accum_t="ap_fixed<12,4>"),
     r"accumulator .* has 8 fraction bits; exact accumulation needs 1\d"),
    (lambda d: d["layers"][0].update(accum_t="ap_fixed<16,2>"), "accumulator .* can overflow"),
    (lambda d: d["layers"][0].update(weight_t="ap_fixed<4,1>"), "weight codes outside"),
    (lambda d: d["layers"][4].update(in_shape=[8, 8, 8]), "in_shape \\(8, 8, 8\\) but the previous layer gives"),
    (lambda d: d["layers"][2].update(result_t="ap_fixed<16,6>"), "must equal its input type"),
    (lambda d: d["layers"][0].update(reuse_factor=3), "reuse factor 3 does not divide"),
    (lambda d: d["layers"][1].update(kind="gelu"), "unknown kind"),
    (lambda d: d["layers"][7].update(table_size=1000), "power of two"),
    (lambda d: d.update(format="something-else"), "format 'something-else'"),
    (lambda d: d.update(output_range=[1.0, -1.0]), r"output_range must be two finite numbers, low < high"),
    (lambda d: d.update(output_range=[-1.0, float("nan")]), r"output_range must be two finite numbers"),
    (lambda d: d["layers"][0].pop("result_t"), "malformed"),
])
def test_inconsistent_model_json_is_refused(saved, change, message):
    edit_json(saved, change)
    with pytest.raises(QuantizedModelError, match=message):
        QuantizedModel.load(saved)


def test_weights_and_json_must_match(saved):
    with np.load(saved / "weights.npz") as npz:
        arrays = dict(npz)
    arrays["dense_0.weight"] = arrays["dense_0.weight"][:, :8]
    del arrays["conv2d_6.bias"]
    np.savez(saved / "weights.npz", **arrays)
    with pytest.raises(QuantizedModelError, match="missing \\['conv2d_6.bias'\\]"):
        QuantizedModel.load(saved)


def test_codes_with_fractions_are_refused_not_truncated(saved):
    with np.load(saved / "weights.npz") as npz:
        arrays = dict(npz)
    arrays["dense_0.weight"] = arrays["dense_0.weight"] + 0.5
    np.savez(saved / "weights.npz", **arrays)
    with pytest.raises(QuantizedModelError, match=r"integer codes; dense_0.weight \(float64\) hold other values"):
        QuantizedModel.load(saved)


def test_a_model_json_of_the_wrong_type_is_named(saved):
    (saved / "model.json").write_text("[1, 2]")
    with pytest.raises(QuantizedModelError, match="model.json: a JSON object expected, got list"):
        QuantizedModel.load(saved)


def test_missing_and_corrupt_files(saved, tmp_path):
    (saved / "weights.npz").write_bytes(b"not a zip")
    with pytest.raises(QuantizedModelError, match="weights.npz: unreadable"):
        QuantizedModel.load(saved)
    (saved / "model.json").write_text("{")
    with pytest.raises(QuantizedModelError, match="not valid JSON"):
        QuantizedModel.load(saved)
    shutil.rmtree(saved)
    with pytest.raises(FileNotFoundError, match="model.json does not exist"):
        QuantizedModel.load(saved)


def test_config_file_overrides(tmp_path):
    config = tmp_path / "q.json"
    config.write_text(json.dumps({"data_width": 12, "weight_width": 6, "layers": {
        "conv2d_4": {"weight_t": "ap_fixed<10,1,AP_RND_CONV,AP_SAT>", "reuse_factor": 144},
        "tanh_7": {"table_size": 256}}}))
    model = quantize(load_preset("digits8"), QuantConfig.from_file(config))
    conv = model.layer("conv2d_4")
    assert model.input_t.width == 12 and model.layer("dense_0").weight_t.width == 6
    assert conv.weight_t == FixedType(10, 1, True, "RND_CONV", "SAT") and conv.reuse_factor == 144
    assert conv.accum_t.frac == model.layer("upsample_3").result_t.frac + 9  # re-derived, still exact
    assert model.layer("tanh_7").table_size == 256


@pytest.mark.parametrize("doc, message", [
    ({"data_widht": 8}, "unknown keys \\['data_widht'\\]"),
    ({"layers": {"conv2d_4": {"stride": 2}}}, "cannot override \\['stride'\\]"),
    ({"layers": {"conv2d_4": {"reuse_factor": 0}}}, r"layers.conv2d_4.reuse_factor: a positive integer, got 0"),
    ({"layers": {"conv2d_4": {"reuse_factor": 4.7}}}, r"layers.conv2d_4.reuse_factor: a positive integer, got 4.7"),
    ({"layers": {"conv2d_4": {"reuse_factor": "16"}}}, r"layers.conv2d_4.reuse_factor: a positive integer, got '16'"),
    ({"layers": "dense_0"}, "layers: an object of layer name -> overrides, got str"),
    ({"layers": {"dense_0": ["reuse_factor"]}}, "layers.dense_0: an object of overrides, got list"),
    ({"table_size": 2**40}, "table_size: a power of two, 16 to 65,536 entries, got 1099511627776"),
    ({"data_width": 0}, "data_width: an integer number of bits, 2 to 32, got 0"),
    ({"weight_width": True}, "weight_width: an integer number of bits, 2 to 32, got True"),
    ({"multipliers": -3}, "multipliers: a positive integer budget"),
    ({"layers": {"dense_0": {"weight_t": "ap_fixed<4>"}}}, "layers.dense_0.weight_t: "),
    ({"placement": "ddr"}, "placement: one of auto, rom, loaded, streamed, got 'ddr'"),
    ({"placement": ["rom"]}, r"placement: one of auto, rom, loaded, streamed, got \['rom'\]"),
    ([1, 2], "a JSON object of settings expected, got list"),
])
def test_bad_config_files(tmp_path, doc, message):
    """The whole file is checked before any work; the error names the file, the key and what is allowed."""
    config = tmp_path / "q.json"
    config.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=message) as info:
        QuantConfig.from_file(config)
    assert str(config) in str(info.value)


def test_a_reuse_factor_hls4ml_rejects_is_refused_at_quantize_for_every_target():
    with pytest.raises(ValueError, match=r"layer dense_0: reuse factor 7 is not one hls4ml accepts for its 16 x 256 "
                                         r"kernel .* the nearest it accepts: "):
        quantize(load_preset("digits8"), QuantConfig(layers={"dense_0": {"reuse_factor": 7}}))


def test_a_budget_below_one_multiplier_per_layer_is_refused():
    with pytest.raises(ValueError, match=r"a budget of 1 multipliers is below what its layers need at their largest "
                                         r"reuse factors \(3: at least one each\)"):
        quantize(load_preset("digits8"), QuantConfig(multipliers=1))


def test_a_placement_policy_is_checked_against_the_board(tmp_path):
    """A config's placement policy is the folding's: refused, naming the board, where the board has no memory for
    it; kept in the model's info where it has."""
    from fpgagen.core.quantize import calibrate, quantize_float

    generator = load_preset("digits8")
    with pytest.raises(ValueError, match=r"^pynq-z2: placement 'loaded': loaded weights go to UltraRAM .*; "
                                         r"placements here: auto, rom, streamed$"):
        quantize(generator, QuantConfig(placement="loaded"), board="pynq-z2")
    float_model = generator.float_model()
    with pytest.raises(ValueError, match=r"^digits8: placement 'streamed': .*placements here: auto, rom$"):
        quantize_float(float_model, calibrate(float_model), QuantConfig(placement="streamed"), widths=(8, 8),
                       budget=100)
    config = tmp_path / "q.json"
    config.write_text(json.dumps({"placement": "streamed"}))
    model = quantize(generator, QuantConfig.from_file(config), board="pynq-z2")
    assert model.info["placement"] == "streamed"  # honoured: its weights fit the ROMs, so they stay there
    assert {lr.placement for lr in model.layers} == {"rom"} and model.weight_ports is None
    assert quantize(generator, QuantConfig(placement="loaded"), board="zcu104").info["placement"] == "loaded"


def test_override_of_an_unknown_layer():
    with pytest.raises(ValueError, match="unknown layers \\['conv9'\\]"):
        quantize(load_preset("digits8"), QuantConfig(layers={"conv9": {"reuse_factor": 2}}))


def test_a_format_1_folder_still_loads(saved):
    """Files written before imported models named the generator "preset"; they load under the same name."""
    edit_json(saved, lambda d: d.update(format="fpgagen-quantized-model-1", preset=d.pop("name")))
    assert QuantizedModel.load(saved).name == "digits8"


def test_quantization_needs_only_the_float_model(tmp_path):
    """Calibration and type choice run on the FloatModel (numpy): the model read back from its file, as any front
    end could have written it, quantizes to the same QuantizedModel."""
    from fpgagen.core.float_model import FloatModel
    from fpgagen.core.quantize import calibrate, quantize_float

    generator = load_preset("digits8")
    float_model = FloatModel.load(generator.float_model().save(tmp_path / "digits8.float.npz"))
    model = quantize_float(float_model, calibrate(float_model), widths=generator.spec.widths,
                           budget=generator.board().board.folding_budget())
    reference = quantize(generator)
    assert [lr.to_json() for lr in model.layers] == [lr.to_json() for lr in reference.layers]
    assert all(np.array_equal(a.weight, b.weight) for a, b in zip(model.layers, reference.layers, strict=True)
               if a.weight is not None)


def test_placements_and_weight_ports_round_trip_and_are_checked(tmp_path):
    """A layer's placement and the model's weight ports survive save/load; a model in ROM writes neither (its
    model.json, and the digests made of it, are as before placements existed); impossible placements are named."""
    import copy
    import json

    from fpgagen.core.folding import WeightPorts
    from fpgagen.core.quantized_model import QuantizedModel, QuantizedModelError
    from fpgagen.core.random_model import random_model

    model = random_model(2)
    model.save(tmp_path / "rom")
    doc = json.loads((tmp_path / "rom" / "model.json").read_text())
    assert "weight_ports" not in doc and not any("placement" in d for d in doc["layers"])

    placed = copy.deepcopy(model)
    placed.weight_ports = WeightPorts(64, 3, 126.0)
    dense = next(lr for lr in placed.layers if lr.kind == "dense")
    dense.placement = "streamed"
    loaded = QuantizedModel.load(placed.save(tmp_path / "placed"))
    assert loaded.weight_ports == placed.weight_ports and loaded.layer(dense.name).placement == "streamed"
    bits = loaded.placed_bits()
    assert bits["streamed"] == dense.weight.size * dense.weight_t.width and sum(bits.values()) == model.weight_bits

    conv = next(lr for lr in placed.layers if lr.kind == "conv2d")
    conv.placement = "streamed"
    act = next(lr for lr in placed.layers if lr.weight is None)
    act.placement = "loaded"
    placed.weight_ports = None
    with pytest.raises(QuantizedModelError) as err:
        placed.validate()
    text = str(err.value)
    assert f"layer {conv.name} (conv2d): cannot be streamed" in text
    assert f"layer {dense.name} (dense): streamed, but the model names no weight ports to carry its weights" in text
    assert f"layer {act.name} ({act.kind}): has no weights to place loaded" in text
