"""Training: image data sets and the VQGAN trainer (blogart vqgan check | train).

Heavy imports (jax, flax, optax) stay inside the functions that need them, so the CLI can import
the light parts without paying for them.
"""
