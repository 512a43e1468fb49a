"""One registry for every backend kind: generators, topic extractors, prompt writers and rankers.

A backend is a factory registered as an entry point, one group per kind (see KINDS):

    [project.entry-points."blogart.generators"]
    my-model = "my_package.blogart_plugin:my_model"

A factory takes one argument, a `Context`, and returns the backend: an object that follows its kind's
protocol in `blogart.protocols`. blogart's own backends are registered exactly so, in its pyproject.toml,
and a name of blogart's own always wins over a plugin's.

Why plain entry points and not pluggy: with one hook ("here is a factory") pluggy would only add a layer.
Entry points already carry the name, the kind (the group) and where it comes from (the distribution),
and they load lazily: choosing `dalle-mini` imports that factory's module alone, and a broken plugin
fails only the run that chooses it. `blogart.generators` is the group generator plugins already used.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from blogart.config import Settings
from blogart.errors import BlogartError, UsageError

# kind -> what one of them is called in messages; the entry-point group is "blogart.<kind>".
KINDS = {
    "generators": "generator",
    "topic_extractors": "topic extractor",
    "prompt_writers": "prompt writer",
    "rankers": "ranker",
}
BUILTIN = "built-in"
_OWN_DISTRIBUTION = "blogart"


def _no_llm() -> Any:
    raise BlogartError("this backend needs an LLM client and none was given")


@dataclass(frozen=True)
class Context:
    """Everything a factory may build from; every kind's factory has the one signature `factory(ctx)`."""

    settings: Settings
    # The run's shared blogart.llm.client.LLMClient (one log in `blogart logs`, one retry policy), made on the
    # first call; offline backends never call it, so they never need a key. Typed Any: this bottom-floor
    # module names nothing of the llm package, not even for a type checker.
    llm: Callable[[], Any] = field(default=_no_llm)
    # The generator's own token count, for prompt writers; None: they estimate.
    count_tokens: Callable[[str], int] | None = None
    # How the generator reads prompts, for prompt writers: "phrases" (DALL-E: short noun phrases) or
    # "sentence" (diffusion models: plain sentences, and a negative prompt they really use).
    prompt_style: str = "phrases"


@dataclass(frozen=True)
class Backend:
    kind: str
    name: str
    source: str  # "built-in", or the distribution of the plugin that registered it
    entry_point: EntryPoint

    @property
    def builtin(self) -> bool:
        return self.source == BUILTIN


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise UsageError(f"unknown backend kind {kind!r}; known: {', '.join(KINDS)}")


def backends(kind: str) -> list[Backend]:
    """Every backend of one kind: blogart's own by name, then plugins' by name (installers reorder entry points)."""
    _check_kind(kind)
    found = []
    for ep in entry_points(group=f"blogart.{kind}"):
        dist = ep.dist.name if ep.dist is not None else "unknown"
        found.append(Backend(kind, ep.name, BUILTIN if dist == _OWN_DISTRIBUTION else dist, ep))
    return sorted(found, key=lambda b: (not b.builtin, b.name))


def names(kind: str) -> list[str]:
    """The names a config or flag may use for this kind, each once."""
    return list(dict.fromkeys(b.name for b in backends(kind)))


def find(kind: str, name: str) -> Backend:
    """The backend called `name`: blogart's own if it has one, else the one plugin that registers it.

    A "prefix:rest" name (`diffusers:./my-pipeline`) is the backend registered as its prefix; that factory
    reads the whole name from the settings."""
    registered = backends(kind)
    if ":" in name and not any(b.name == name for b in registered):
        name = name.split(":", 1)[0]
    same = [b for b in registered if b.name == name]
    own = [b for b in same if b.builtin]
    if own:
        return own[0]
    if len(same) == 1:
        return same[0]
    label = KINDS[kind]
    if same:
        sources = ", ".join(b.source for b in same)
        raise UsageError(f"{label} {name!r} is registered by several plugins ({sources}); uninstall all but one")
    if not any(b.builtin for b in registered):
        # A source checkout used without `pip install -e .` since the entry points changed.
        raise BlogartError(f"blogart's own {label}s are not registered; reinstall it (`pip install -e .`)")
    raise UsageError(f"unknown {label} {name!r}; known: {', '.join(sorted(names(kind)))}")


# kind -> {(name, settings): backend} while `reusing` is active: a batch worker loads each model once.
_reused: dict[str, dict[tuple[str, str], Any]] = {}
_reuse_lock = threading.Lock()


@contextmanager
def reusing(*kinds: str) -> Iterator[None]:
    """Within the block, `create` builds each backend of these kinds once per (name, settings) and hands
    the same object out again: a batch worker keeps its generator and ranker, weights loaded, across posts."""
    for kind in kinds:
        _check_kind(kind)
        _reused.setdefault(kind, {})
    try:
        yield
    finally:
        for kind in kinds:
            _reused.pop(kind, None)


def create(kind: str, name: str, ctx: Context) -> Any:
    """Load the factory registered as `name` and build the backend; a broken plugin is one error line."""
    cache = _reused.get(kind)
    if cache is None:
        return _create(kind, name, ctx)
    key = (name, ctx.settings.model_dump_json())
    with _reuse_lock:
        if key not in cache:
            cache[key] = _create(kind, name, ctx)
        return cache[key]


def _create(kind: str, name: str, ctx: Context) -> Any:
    backend = find(kind, name)
    where = f"{KINDS[kind]} plugin {name!r} ({backend.entry_point.value} from {backend.source})"
    try:
        factory = backend.entry_point.load()
    except Exception as exc:  # noqa: BLE001 - whatever a plugin's import raises, the user gets one line
        raise BlogartError(f"{where} failed to load: {_one_line(exc)}") from None
    if backend.builtin:
        return factory(ctx)
    try:
        return factory(ctx)
    except BlogartError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise BlogartError(f"{where} failed: {_one_line(exc)}") from None


def _one_line(exc: BaseException) -> str:
    from blogart.text import one_line

    return one_line(exc, named=True)  # no class names: "module not found error: No module named 'x'"
