"""A DalleBart folder's own sampling defaults, from `generation_config.json` (transformers' file and keys).

DALL-E Mini's settings (condition scale 10, top-k 50) are blogart's defaults, but a small model trained
on other images can want others: the bundled icon model ships this file with the values its recipe
chose on validation captions (`recipes/icons/sampling.py`). They fill only the `[generate]` keys the
user left unset, so a config file, an environment variable or a flag still wins.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from blogart.errors import BlogartError

FILE = "generation_config.json"
# transformers' key -> blogart's [generate] key (guidance_scale is the classifier-free guidance weight,
# what DALL-E Mini calls super-conditioning)
KEYS = {"guidance_scale": "condition_scale", "top_k": "top_k", "top_p": "top_p", "temperature": "temperature"}
KEYS_BACK = {ours: theirs for theirs, ours in KEYS.items()}


def read_sampling(folder: str | Path) -> dict[str, Any]:
    """The folder's sampling defaults as `[generate]` keys; {} when it has no generation_config.json."""
    from blogart.config import GenerateSettings

    path = Path(folder) / FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        values = {ours: data[theirs] for theirs, ours in KEYS.items() if data.get(theirs) is not None}
        GenerateSettings.model_validate(values)  # the same bounds as the settings they stand in for
    except ValidationError as exc:  # named by the file's key, not ours
        first = exc.errors()[0]
        reason = f"{KEYS_BACK.get(str(first['loc'][0]), first['loc'][0])}: {first['msg']}"
    except (OSError, ValueError) as exc:
        reason = str(exc)
    else:
        return values
    raise BlogartError(f"unreadable sampling defaults {path}: {reason}")


def write_sampling(folder: str | Path, values: dict[str, Any]) -> Path:
    """Write `[generate]`-keyed sampling values as the folder's generation_config.json (atomically)."""
    from blogart.atomic import atomic_write_json

    unknown = sorted(set(values) - set(KEYS_BACK))
    if unknown:
        raise ValueError(f"not sampling keys: {', '.join(unknown)}")
    path = Path(folder) / FILE
    atomic_write_json(path, {"do_sample": True, **{KEYS_BACK[k]: v for k, v in values.items()}})
    return path
