"""Settings: defaults < config file < environment < command-line flags.

The config file is `blogart.toml` in the working directory, or the file given with `--config`.
Environment variables are `BLOGART_<SECTION>__<KEY>` (for example `BLOGART_LLM__MODEL=gpt-4o-mini`),
plus `OPENAI_API_KEY` and `OPENAI_BASE_URL`, which the BLOGART_ names override.
Every key is documented in config.example.toml.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal, get_origin

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, SettingsError

from blogart import redact
from blogart.errors import UsageError
from blogart.readers import SETTINGS_FILE_BYTES, Wording, read_user_text

DEFAULT_CONFIG_NAME = "blogart.toml"


def user_dir() -> Path:
    """Per-user state (SQLite log, caches): BLOGART_HOME, else the platform's data dir."""
    if home := os.environ.get("BLOGART_HOME"):
        return Path(home).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("blogart", appauthor=False))


def _expand_user(value: str) -> str:
    return os.path.expanduser(value) if value else value


# A file or folder setting: "~/covers" means the home folder, not a folder named "~".
PathSetting = Annotated[str, AfterValidator(_expand_user)]

MAX_CONFIG_BYTES = SETTINGS_FILE_BYTES
_CONFIG_WORDING = Wording(folder="{what} {path} is a directory")


class Section(BaseModel):
    # allow_inf_nan=False: every float setting is finite, so no Infinity/NaN reaches a manifest.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class LLMSettings(Section):
    backend: Literal["auto", "openai", "local"] = "auto"  # auto: openai when a key or base_url is set
    model: str = "gpt-4o"
    base_url: str | None = None
    api_key: SecretStr | None = None
    timeout: float = 60.0
    max_retries: int = 4
    temperature: float = 0.2

    def key(self) -> str | None:
        """The API key as plain text, or None when none is set (the one place a secret is unwrapped)."""
        return self.api_key.get_secret_value() if self.api_key else None


class InputSettings(Section):
    max_bytes: int = Field(2_000_000, ge=1)  # posts larger than this are refused
    timeout: float = 15.0  # seconds for fetching a URL


class ChunkingSettings(Section):
    max_tokens: int = Field(512, ge=32)
    overlap_tokens: int = Field(64, ge=0)
    encoding: str = "cl100k_base"


class TopicsSettings(Section):
    max_key_topics: int = Field(6, ge=1, le=20)
    backend: str = "auto"  # a registered topic extractor; auto: the [llm] backend's (pipeline.auto)


class PromptSettings(Section):
    style: str = "illustration"
    negative: list[str] = []
    max_tokens: int = Field(64, ge=8)
    styles_file: PathSetting = ""  # extra TOML of style presets
    library_dir: PathSetting = ""  # extra folder of few-shot prompt examples
    writer: str = "auto"  # a registered prompt writer; auto: the generator's own, else the [llm] backend's


class GenerateSettings(Section):
    model: str = "auto"  # auto: a pulled diffusers model, else DALL-E Mini, else the bundled one (pipeline.auto)
    n: int = Field(8, ge=1)
    seed: int = Field(0, ge=0, le=2**64 - 1)  # checked here, so a bad seed fails before any LLM call
    condition_scale: float = Field(10.0, ge=0)
    top_k: int = Field(50, ge=0)  # 0: no top-k filter
    top_p: float | None = Field(None, gt=0, le=1)
    temperature: float = Field(1.0, gt=0)
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    batch_size: int = Field(4, ge=1)  # images sampled together (memory grows with it)
    compile_cache: bool = True  # keep compiled samplers in <user dir>/xla-cache across runs
    out_dir: PathSetting = "blogart-out"
    rounds: int = Field(1, ge=1, le=2)
    openai_images_model: str = "dall-e-3"


class DiffusionSettings(Section):
    """The diffusers generators (sd-turbo, z-image-turbo, diffusers:<folder>); 0 / None: the model's own default."""

    steps: int = Field(0, ge=0, le=200)
    guidance: float | None = Field(None, ge=0)  # > 1 turns on classifier-free guidance (and the negative prompt)
    width: int = Field(0, ge=0, le=4096, multiple_of=8)  # pixels (16 for some models: the pipeline says)
    height: int = Field(0, ge=0, le=4096, multiple_of=8)
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"  # auto: bfloat16 where computed natively
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int = Field(0, ge=0)  # torch threads on a CPU; 0: every core this process may use
    # true: each image is computed alone, so image i is the same bytes whatever -n and batch_size (CPU kernels
    # round differently at another batch size); false: [generate] batch_size images per call.
    exact: bool = True
    # Decode with TAESD (`blogart models pull taesd`): ~10x cheaper than SD's VAE on a CPU, softer detail.
    tiny_vae: bool = False
    # "openvino" (CPU, float32, UNet pipelines such as sd-turbo): OpenVINO runs the networks, faster than torch
    # on a CPU; the first run converts them into <user dir>/openvino (docs/generators.md).
    runtime: Literal["torch", "openvino"] = "torch"


class ModelsSettings(Section):
    dalle_mini: PathSetting = ""
    dalle_mega: PathSetting = ""
    vqgan: PathSetting = ""
    clip: PathSetting = ""
    clip_l14: PathSetting = ""
    swin2sr: PathSetting = ""  # a Swin2SR folder (config.json + weights) for publish.upscaler = "swin2sr"
    sd_turbo: PathSetting = ""  # a diffusers pipeline folder (model_index.json, unet/, vae/, ...)
    z_image_turbo: PathSetting = ""
    taesd: PathSetting = ""  # a diffusers AutoencoderTiny folder (config.json + weights) for [diffusion] tiny_vae
    cache_dir: PathSetting = ""  # Hugging Face cache; empty: HF_HOME / the default

    def path_for(self, name: str) -> str | None:
        """The explicit path configured for a model name ("dalle-mini", "vqgan", ...), if any."""
        value = getattr(self, name.replace("-", "_"), "") if name.replace("-", "_") in type(self).model_fields else ""
        return value or None


class RankSettings(Section):
    model: str = "ViT-B-32"
    pretrained: str = "laion2b_s34b_b79k"
    top_k: int = Field(4, ge=1)
    negative_weight: float = 0.5
    threads: int = 0  # 0: torch's default
    batch_size: int = Field(16, ge=1)
    ranker: str = "auto"  # a registered ranker; auto: clip


class ModerationSettings(Section):
    enabled: bool = True
    # concept -> cosine-similarity threshold for CLIP zero-shot checks (uncalibrated defaults; see docs/quality.md)
    concepts: dict[str, float] = {
        "sexually explicit content": 0.27,
        "nudity": 0.27,
        "graphic violence": 0.27,
        "gore and blood": 0.27,
        "hate symbol": 0.27,
    }
    prompt_blocklist: list[str] = []
    openai: bool = False  # also ask OpenAI's moderation endpoint (needs an API key)


class OptimizeSettings(Section):
    iterations: int = Field(300, ge=1)
    lr: float = 0.1
    weight_decay: float = 0.1
    prompt_len: int = Field(16, ge=1, le=75)
    blocklist: list[str] = []
    negative_weight: float = 0.5
    seed: int = 0


class SocialSettings(Section):
    out_dir: PathSetting = "blogart-social"
    carousel: int = Field(1, ge=1, le=10)  # images per post, one per key topic first
    per_topic: int = Field(2, ge=1)  # candidates drawn for each image
    slang_file: PathSetting = ""  # extra TOML of abbreviations and slang ([expand] "tbh" = "to be honest")
    moderation: Literal["social", "standard"] = "social"  # social: the stricter preset (ranking.moderation)
    concepts: dict[str, float] | None = None  # replaces the social preset's CLIP concepts when set


_SIZE = re.compile(r"^(\d{2,5})x(\d{2,5})$")


def _check_sizes(sizes: dict[str, str]) -> dict[str, str]:
    for name, size in sizes.items():
        if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,31}", name):
            raise ValueError(f"size name {name!r}: use lower-case letters, digits, - and _")
        if not _SIZE.match(size):
            raise ValueError(f"size {name} = {size!r}: write it as WIDTHxHEIGHT, e.g. 1200x630")
    return sizes


class PublishSettings(Section):
    enabled: bool = True  # false: only candidates and the manifest, as before publishing existed
    front_matter: Literal["", "hugo", "papermod", "jekyll", "astro", "docusaurus", "custom"] = ""
    upscaler: Literal["lanczos", "swin2sr"] = "lanczos"
    upscale_size: int = Field(1024, ge=64, le=8192)
    sizes: Annotated[dict[str, str], AfterValidator(_check_sizes)] = {
        "og": "1200x630",
        "square": "1080x1080",
        "portrait": "1080x1350",
        "wide": "1600x900",
    }
    # Where the cover is copied and the URL that folder is served at, instead of the place the post's site
    # serves it from (docs/publishing.md); needed for a post in no site blogart recognises.
    static_dir: PathSetting = ""  # e.g. "static/images/covers"
    static_url: str = ""  # e.g. "/images/covers"
    astro_alt_key: str = "heroImageAlt"
    custom_image_key: str = ""  # front_matter = "custom": dotted key path of the image, e.g. "params.cover"
    custom_alt_key: str = ""  # and of the alt text ("" : none)
    alt_text: Literal["auto", "llm", "template"] = "auto"  # auto: the LLM when the text backend is openai
    # Title cards (docs/cards.md): card.png, the cover with the title set on it, becomes the social image.
    card: bool = False
    card_theme: Literal["dark", "light"] = "dark"
    card_template: PathSetting = ""  # a TOML laid over the default (outputs/templates/card.toml)
    card_site: str = Field("", max_length=200)  # the site name on the card
    card_date: bool = True  # the post's front-matter date on the card
    card_tags: int = Field(3, ge=0, le=10)  # at most this many front-matter tags on the card
    card_sizes: list[str] = []  # names from `sizes`, each also drawn as card-<name>.png
    card_cover: bool = False  # papermod: cover.image names the card too (default: the art; og:image follows it)


class BatchSettings(Section):
    """`backfill` and `ci`: candidates of several posts drawn in one sampler batch (docs/automation.md)."""

    across_posts: bool = True  # false: each post's candidates are their own batches, as `generate` draws them
    draw_batch_cpu: int = Field(16, ge=1)  # images per sampler batch on a CPU (memory grows with it)
    draw_batch_gpu: int = Field(64, ge=1)  # and on a GPU or TPU


class StoreSettings(Section):
    path: PathSetting = ""  # SQLite file; empty: <user dir>/blogart.db

    def resolved(self) -> Path:
        return Path(self.path).expanduser() if self.path else user_dir() / "blogart.db"


_config_file: ContextVar[Path | None] = ContextVar("blogart_config_file", default=None)


class _OpenAIEnv(PydanticBaseSettingsSource):
    """OPENAI_API_KEY / OPENAI_BASE_URL, below the BLOGART_ names."""

    def get_field_value(self, field, field_name):  # pragma: no cover - required by the base class
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        llm = {}
        if key := os.environ.get("OPENAI_API_KEY"):
            llm["api_key"] = key
        if url := os.environ.get("OPENAI_BASE_URL"):
            llm["base_url"] = url
        return {"llm": llm} if llm else {}


class _TomlFile(PydanticBaseSettingsSource):
    def get_field_value(self, field, field_name):  # pragma: no cover - required by the base class
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = _config_file.get()
        return read_toml(path) if path else {}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="BLOGART_", env_nested_delimiter="__", extra="forbid", allow_inf_nan=False
    )

    input: InputSettings = InputSettings()
    llm: LLMSettings = LLMSettings()
    chunking: ChunkingSettings = ChunkingSettings()
    topics: TopicsSettings = TopicsSettings()
    prompt: PromptSettings = PromptSettings()
    generate: GenerateSettings = GenerateSettings()
    models: ModelsSettings = ModelsSettings()
    diffusion: DiffusionSettings = DiffusionSettings()
    rank: RankSettings = RankSettings()
    moderation: ModerationSettings = ModerationSettings()
    optimize: OptimizeSettings = OptimizeSettings()
    social: SocialSettings = SocialSettings()
    publish: PublishSettings = PublishSettings()
    batch: BatchSettings = BatchSettings()
    store: StoreSettings = StoreSettings()

    @classmethod
    def settings_customise_sources(
        cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
    ):
        # First wins: flags, BLOGART_*, OPENAI_*, the config file, then the defaults above.
        return (init_settings, env_settings, _OpenAIEnv(settings_cls), _TomlFile(settings_cls))

    def redacted(self) -> dict[str, Any]:
        """The effective settings as plain data, secrets shown as '***' (also a password in base_url)."""
        data = self.model_dump(mode="json")
        if self.llm.api_key is not None:
            data["llm"]["api_key"] = redact.MASK
        data["llm"]["base_url"] = redact.redact_url(self.llm.base_url)
        return data


def read_toml(path: Path) -> dict[str, Any]:
    """The config file as a dict; anything wrong with it is one UsageError naming the file."""
    text = read_user_text(path, what="config file", max_bytes=MAX_CONFIG_BYTES, wording=_CONFIG_WORDING)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"config file {path} is not valid TOML: {exc}") from None


def _environment_error(exc: SettingsError) -> UsageError:
    """pydantic-settings reads list and table variables as JSON; say which variable was not."""
    match = re.search(r'field "(\w+)"', str(exc))
    section = match.group(1) if match else ""
    for name, value in os.environ.items():
        if not name.upper().startswith("BLOGART_"):
            continue
        parts = name[len("BLOGART_") :].lower().split("__")
        if parts[0] != section or not _is_table_or_list(parts):
            continue
        try:
            json.loads(value)
        except ValueError:
            example = "'{\"key\": 1}'" if _is_table(parts) else '\'["a", "b"]\''
            return UsageError(f"bad setting {'.'.join(parts)} (from {name}): write it as JSON, e.g. {name}={example}")
    return UsageError(f"bad setting {section} from the environment: {exc}")


def _annotation(parts: list[str]) -> Any:
    model: Any = Settings
    for part in parts:
        fields = getattr(model, "model_fields", {})
        if part not in fields:
            return None
        model = fields[part].annotation
    return model


def _is_table(parts: list[str]) -> bool:
    annotation = _annotation(parts)
    return get_origin(annotation) is dict or isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _is_table_or_list(parts: list[str]) -> bool:
    return _is_table(parts) or get_origin(_annotation(parts)) is list


def find_config_file(explicit: str | Path | None = None) -> Path | None:
    if explicit:
        return Path(explicit).expanduser()
    local = Path.cwd() / DEFAULT_CONFIG_NAME
    return local if local.is_file() else None


def load_settings(
    config_file: str | Path | None = None, overrides: dict[str, dict[str, Any]] | None = None
) -> Settings:
    """Build the effective settings; `overrides` are flag values by section (None values are ignored)."""
    path = find_config_file(config_file)
    flags = {
        section: {k: v for k, v in values.items() if v is not None} for section, values in (overrides or {}).items()
    }
    token = _config_file.set(path)
    try:
        settings = Settings(**{k: v for k, v in flags.items() if v})
    except SettingsError as exc:
        raise _environment_error(exc) from None
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"])
        source = f" (from {path})" if path else ""
        raise UsageError(f"bad setting {where}{source}: {error['msg']}") from None
    finally:
        _config_file.reset(token)
    if settings.llm.api_key is not None:
        redact.remember(settings.llm.api_key.get_secret_value())  # masked in any error text from now on
    return settings


_current: Settings | None = None
_current_path: Path | None = None


def configure(config_file: str | Path | None = None, overrides: dict[str, dict[str, Any]] | None = None) -> Settings:
    """Load and remember the settings for this process (the CLI calls this once)."""
    global _current, _current_path
    _current = load_settings(config_file, overrides)
    _current_path = find_config_file(config_file)
    return _current


def get_settings() -> Settings:
    return _current if _current is not None else configure()


def config_path() -> Path | None:
    """The config file the current settings were read from, if any."""
    get_settings()
    return _current_path
