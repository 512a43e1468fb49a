"""Training: caption-image and image data sets, image codes, the DalleBart fine-tuner and the VQGAN trainer.

Heavy imports (jax, flax, optax, PIL) stay inside the functions that need them, so the CLI can
import the light parts (data set reading, typed values) without paying for them.
"""
