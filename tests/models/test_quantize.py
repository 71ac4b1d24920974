"""Quantizing a generator that is no preset: its own module and spec, its widths from the width rule."""

import dataclasses

import pytest

from fpgagen.core.quantize import QuantConfig
from fpgagen.models import widths
from fpgagen.models.generator import Generator
from fpgagen.models.presets import load_preset
from fpgagen.models.quality import fixed_vs_float
from fpgagen.models.quantize import quantize


@pytest.fixture(scope="module")
def unmeasured():
    """digits8's trained module under a spec with no measured widths and no dataset (as an imported model)."""
    digits8 = load_preset("digits8")
    spec = dataclasses.replace(digits8.spec, name="mine", widths=None, dataset=None)
    return Generator(spec, digits8.module)


def test_a_generator_without_widths_gets_the_width_rules_choice_and_says_so(unmeasured):
    model = quantize(unmeasured)
    source = model.info["width_source"]
    assert source.startswith("mine has no measured widths: the width rule chose data ")
    data_w, weight_w = model.input_t.width, model.layers[0].weight_t.width
    assert f"data {data_w}, weight {weight_w} bits (" in source
    q = fixed_vs_float(model, unmeasured)
    assert q["psnr_db"] >= widths.PSNR_TARGET_DB and "fixed" not in q  # no dataset: PSNR alone
    # the narrowest: one bit less data (at these weights) misses the target
    narrower = quantize(unmeasured, QuantConfig(data_width=data_w - 1, weight_width=weight_w))
    assert fixed_vs_float(narrower, unmeasured)["psnr_db"] < widths.PSNR_TARGET_DB or \
        fixed_vs_float(quantize(unmeasured, QuantConfig(data_width=data_w, weight_width=weight_w - 1)),
                       unmeasured)["psnr_db"] < widths.PSNR_TARGET_DB


def test_the_width_rules_choice_is_kept_in_the_cache_root(unmeasured, tmp_path, monkeypatch):
    from fpgagen.models import quantize as quantize_module

    monkeypatch.setenv("FPGAGEN_CACHE", str(tmp_path))
    monkeypatch.setattr(quantize_module, "_SWEPT", {})
    first = quantize(unmeasured)
    (stored,) = (tmp_path / "widths").glob("*.json")
    monkeypatch.setattr(quantize_module, "_SWEPT", {})  # a new process: only the file remains

    def no_sweep(*args, **kwargs):
        raise AssertionError("swept again although the cache holds the choice")

    monkeypatch.setattr(widths, "sweep", no_sweep)
    again = quantize(unmeasured)
    assert again.info["width_source"] == first.info["width_source"] and again.input_t == first.input_t
    stored.write_text("{not json")  # a damaged entry is swept again, not trusted
    monkeypatch.setattr(quantize_module, "_SWEPT", {})
    with pytest.raises(AssertionError, match="swept again"):
        quantize(unmeasured)


def test_explicit_widths_skip_the_sweep(unmeasured):
    model = quantize(unmeasured, QuantConfig(data_width=10, weight_width=9))
    assert (model.input_t.width, model.layers[0].weight_t.width) == (10, 9)
    assert model.info["width_source"] == "set by the quantization config"


def test_the_corner_takes_the_fewest_bits_then_the_fewest_weight_bits():
    """From the two minima the corner search widens one bit in all at a time, data before weights: weights are the
    block RAM (dcgan28: data 9 / weight 6 rather than 8 / 7, 2.3 Mbit less)."""
    tried = []

    def point(d: int, w: int) -> dict:
        tried.append((d, w))
        return {"meets_targets": d + w >= 15 and w >= 6}

    assert widths._corner(8, 6, point) == {"data_width": 9, "weight_width": 6}
    assert tried == [(8, 6), (9, 6)]
    tried.clear()
    assert widths._corner(8, 7, lambda d, w: point(d, w) | {"meets_targets": w >= 8}) == {"data_width": 8,
                                                                                          "weight_width": 8}
    assert tried == [(8, 7), (9, 7), (8, 8)]
    assert widths._corner(16, 16, lambda d, w: {"meets_targets": False}) == {"data_width": 16, "weight_width": 16}
