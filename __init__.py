"""fpgagen: generative models (GAN generators, VAE decoders) taken from PyTorch to Zynq FPGAs.

Subpackages are the repository's top-level folders:

- ``fpgagen.models``: generator presets, training, checkpoints, the digit classifiers and quality metrics.
"""

__version__ = "0.1.0"
