"""Model code shared by inference and training: the DALL-E Mini models (`dalle/`) and CLIP (`clip.py`)."""
