"""The golden executor: input checking, saturation of out-of-range latents, and fidelity to the float model."""

import json

import numpy as np
import pytest

from fpgagen.core import golden
from fpgagen.core.fixed import FixedType
from fpgagen.core.latents import latents
from fpgagen.models.presets import PRESETS, get_preset, load_preset
from fpgagen.models.quality import fixed_vs_float
from fpgagen.models.quantize import TRADEOFF_FILE, quantize


@pytest.fixture(scope="module")
def digits8():
    return quantize(load_preset("digits8"))


@pytest.mark.parametrize("bad, message", [
    (np.zeros((4, 15), np.float32), r"shape \(N, 16\)"),
    (np.zeros(16, np.float32), r"shape \(N, 16\)"),
    (np.zeros((0, 16), np.float32), r"N >= 1"),
    (np.zeros((4, 16), np.int32), "must be floating point"),
    (np.array([[0.0] * 15 + [np.nan]]), r"NaN or Inf \(as float32; first at row 0, column 15"),
    (np.array([[0.0] * 3 + [np.inf] + [0.0] * 12]), "NaN or Inf"),
])
def test_bad_latents(digits8, bad, message):
    with pytest.raises(ValueError, match=message):
        golden.generate(digits8, bad)


def test_latents_beyond_the_input_type_saturate(digits8):
    t = digits8.input_t
    z = latents(8, 16, seed=2)
    big = z.copy()
    big[:, 0] = 1e6
    clipped = z.copy()
    clipped[:, 0] = t.max_value
    assert np.array_equal(golden.generate(digits8, big), golden.generate(digits8, clipped))


def test_batches_do_not_change_results(digits8):
    z = latents(300, 16, seed=3)
    whole = golden.generate(digits8, z, batch_size=1000)
    assert np.array_equal(whole, golden.generate(digits8, z, batch_size=7))
    assert np.array_equal(whole[5:6], golden.generate(digits8, z[5:6]))


def test_layer_functions_by_hand():
    x_t = FixedType(8, 4, True, "RND", "SAT")  # codes in 1/16
    w_t = FixedType(8, 2)  # codes in 1/64
    b_t = FixedType(16, 4)  # codes in 1/4096 = acc frac
    acc_t = FixedType(32, 20)
    res_t = FixedType(8, 4, True, "RND", "SAT")
    x = np.array([[16, -8]])  # 1.0, -0.5
    w = np.array([[32, 64], [64, 64]])  # [[0.5, 1.0], [1.0, 1.0]]
    b = np.array([0, 4096 * 7])  # 0, 7.0
    # outputs 0.5 - 0.5 + 0 = 0 and 1.0 - 0.5 + 7 = 7.5 -> saturates at 127/16
    assert golden.dense(x, x_t, w, b, w_t, b_t, acc_t, res_t).tolist() == [[0, 120]]
    alpha_t = FixedType(8, 0)
    assert golden.leaky_relu(np.array([-16, 16]), x_t, 51, alpha_t, res_t).tolist() == [-3, 16]
    table_t = FixedType(10, 1, True, "RND", "SAT")
    table = golden.activation_table("tanh", 1024, table_t)
    assert table[512] == 0 and table[0] == -512 and table[1023] == 511  # -0.9993 rounds, 0.9993 saturates
    # index = trunc(x * N / 8) + N/2: x = -1/16 -> trunc(-8) + 512
    assert golden.table_index(np.array([-1, 1, 10000, -10000]), x_t, 1024, 8).tolist() == [504, 520, 1023, 0]


@pytest.mark.parametrize("preset", [p for p in sorted(PRESETS) if get_preset(p).spec.widths])
def test_default_widths_meet_the_quality_targets(preset):
    generator = load_preset(preset)
    q = fixed_vs_float(quantize(generator), generator)
    assert q["psnr_db"] >= 35.0
    assert q["fixed"]["frechet"] <= 1.05 * q["float"]["frechet"]
    recorded = json.loads(TRADEOFF_FILE.read_text())[preset]
    assert recorded["chosen"] == dict(zip(("data_width", "weight_width"), generator.spec.widths, strict=True))
    row = next(r for r in recorded["rows"] if (r["data_width"], r["weight_width"]) == generator.spec.widths)
    assert row["psnr_db"] == pytest.approx(q["psnr_db"], abs=0.01)
    assert row["meets_targets"]
