from fpgagen.models.cost import macs_per_image, parameter_count
from fpgagen.models.presets import get_preset


def test_dcgan28_macs_match_the_hand_count():
    # Dense 100*12544; ConvT 5x5: useful taps per axis 29 (7->7, s1), 32 (7->14, s2), 67 (14->28, s2).
    preset = get_preset("dcgan28")
    macs = macs_per_image(preset.make_generator(), preset.spec.latent_dim)
    assert macs["useful"] == 100 * 12544 + 29**2 * 256 * 128 + 32**2 * 128 * 64 + 67**2 * 64
    assert macs["zero_insertion"] == 100 * 12544 + 25 * (49 * 256 * 128 + 196 * 128 * 64 + 784 * 64)


def test_mnist28_macs_and_parameters():
    preset = get_preset("mnist28")
    g = preset.make_generator()
    macs = macs_per_image(g, preset.spec.latent_dim)
    # Linear 64 -> 7x7x64, Conv3x3 64->32 at 14x14, Conv3x3 32->1 at 28x28
    assert macs["useful"] == macs["zero_insertion"] == 64 * 3136 + 14 * 14 * 64 * 32 * 9 + 28 * 28 * 32 * 9
    weights = 64 * 3136 + 64 * 32 * 9 + 32 * 9 + 1
    assert parameter_count(g) == weights + 2 * 3136 + 2 * 32
