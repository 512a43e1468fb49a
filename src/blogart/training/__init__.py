"""Training: caption-image data sets, image codes, and the DalleBart fine-tuner.

Heavy imports (jax, flax, optax, PIL) stay inside the functions that need them, so the CLI can
import the light parts (data set reading, typed values) without paying for them.
"""
