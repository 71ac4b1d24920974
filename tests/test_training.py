import numpy as np
import torch

from fpgagen.core.latents import latents
from fpgagen.models.data import load_dataset
from fpgagen.models.metrics import quality, to_signed_unit
from fpgagen.models.presets import get_preset
from fpgagen.models.sampling import generate
from fpgagen.models.train import elbo_loss, train


def frechet_of(preset, generator, n=359):
    images = to_signed_unit(generate(generator, latents(n, preset.spec.latent_dim, seed=5)), preset.spec.output_range)
    return quality(images, preset.spec.dataset)["frechet"]


def test_gan_smoke_run_moves_samples_toward_real_digits():
    preset = get_preset("digits8")
    torch.manual_seed(0)
    untrained = frechet_of(preset, preset.make_generator().eval())
    trained = train("digits8", seed=0, epochs=25, progress=False)
    assert all(np.isfinite(v).all() for v in trained.history.values())
    assert frechet_of(preset, trained.generator) < 0.5 * untrained


def test_vae_smoke_run_lowers_the_loss():
    result = train("vae28", seed=0, epochs=2, progress=False)
    losses = result.history["loss"]
    assert losses[1] < losses[0]
    # and against the untrained pair, on held-out digits and the same noise
    preset = result.preset
    torch.manual_seed(0)
    decoder, encoder = preset.make_generator(), preset.training.make_partner()
    x = torch.from_numpy(load_dataset("mnist28").held_out.images[:256]) * 0.5 + 0.5
    eps = torch.randn(256, preset.spec.latent_dim)
    with torch.no_grad():
        assert elbo_loss(result.modules["encoder"], result.generator, x, eps) < elbo_loss(encoder, decoder, x, eps)


def test_training_is_reproducible():
    a = train("digits8", seed=3, epochs=1, progress=False).generator.state_dict()
    b = train("digits8", seed=3, epochs=1, progress=False).generator.state_dict()
    c = train("digits8", seed=4, epochs=1, progress=False).generator.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["0.weight"], c["0.weight"])
