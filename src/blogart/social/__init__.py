"""The social stage: informal posts read and normalised, platform presets, carousel picks, captions.

A text stage beside topics and prompts: it takes and returns values, never files of a run
(`blogart.outputs` writes those) and never calls another stage (`blogart.pipeline.social` wires it).
"""
