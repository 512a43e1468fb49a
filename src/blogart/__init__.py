"""blogart: turn a blog post into cover images, locally."""

__version__ = "0.1.0"
