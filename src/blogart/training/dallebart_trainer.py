"""Fine-tune a DalleBart on caption-image pairs (or train one from scratch), resumably.

The loss is the teacher-forced cross-entropy of the image codes given the caption: the decoder
reads the start token then codes[:-1] and predicts every code at once (`DalleBart.__call__`).

One jit-compiled step does forward, backward and the optax update; batches are built on the host
in numpy. Everything random is derived from (seed, position), never from a running generator:
epoch e shuffles with rng(seed, 0, e), micro-step s drops captions with rng(seed, 1, s). So a run
resumed from a checkpoint at micro-step s sees exactly the batches an uninterrupted run would.

Steps (`--steps`, `save_every`, the schedule) count optimizer updates; with `accumulate=K` each
update averages the gradients of K micro-batches (optax.MultiSteps).
"""

from __future__ import annotations

import hashlib
import json
import math
import tempfile
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from blogart.atomic import atomic_write_json
from blogart.errors import UsageError
from blogart.text import one_line
from blogart.training import checkpoints
from blogart.training.codes import image_codes
from blogart.training.data import DataReport, Example, load_examples, split_examples
from blogart.training.options import check_float, check_int, check_seed
from blogart.training.progress import Progress, TrainEvent, ignore
from blogart.training.runlog import LOG_FILE, RunLog

# Files of a DalleBart folder besides the weights that travel with a fine-tune: the tokenizer side, and
# the sampling defaults (a fine-tune of the bundled model draws as it did).
TEXT_FILES = (
    "generation_config.json",
    "vocab.json",
    "merges.txt",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "enwiki-words-frequency.txt",
)
REPORT_FILE = "report.json"
DECODER_LAYERS = ("model", "decoder", "layers", "FlaxBartDecoderLayers")


@dataclass(frozen=True)
class RunConfig:
    """Everything that decides the numbers a run produces; saved with every checkpoint."""

    epochs: int = 1
    steps: int | None = None  # optimizer updates; overrides epochs
    batch_size: int = 8
    lr: float = 1e-4
    seed: int = 0
    test_fraction: float = 0.1
    accumulate: int = 1
    freeze_encoder: bool = False
    freeze_decoder_layers: int = 0  # the lowest K
    bf16: bool = False  # bfloat16 matmuls, float32 master weights and optimizer state
    text_dropout: float = 0.1  # share of captions replaced by the empty prompt (for super-conditioning)
    warmup: float = 0.05  # share of the updates spent warming the learning rate up
    weight_decay: float = 0.01
    clip_norm: float = 1.0
    save_every: int | None = None  # updates; None: at the end of every epoch
    strict: bool = False

    # A saved run with a key this version does not know is refused: that option would be silently dropped.
    __pydantic_config__: ClassVar[dict[str, Any]] = {"extra": "forbid"}

    def check(self) -> None:
        """One UsageError line for the first option out of range (numbers finite, shares in [0, 1))."""
        for name in ("epochs", "batch_size", "accumulate"):
            check_int(name, getattr(self, name), 1)
        for name in ("steps", "save_every"):
            if getattr(self, name) is not None:
                check_int(name, getattr(self, name), 1)
        check_int("freeze_decoder_layers", self.freeze_decoder_layers, 0)
        check_seed(self.seed)
        check_float("lr", self.lr, above=0, at_most=1)
        for name in ("test_fraction", "text_dropout", "warmup"):
            check_float(name, getattr(self, name), at_least=0, below=1)
        check_float("weight_decay", self.weight_decay, at_least=0)
        check_float("clip_norm", self.clip_norm, above=0)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        """The config a run saved; UsageError naming the first key that is missing, unknown or mistyped."""
        from pydantic import TypeAdapter, ValidationError

        if not isinstance(data, dict):
            raise UsageError("its config is not a JSON object")
        try:
            config = TypeAdapter(cls).validate_python(data)
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(part) for part in error["loc"]) or "config"
            raise UsageError(f"its config key {where!r}: {error['msg'].lower()}") from None
        config.check()
        return config


@dataclass(frozen=True)
class Sources:
    """Where a run reads from. `base` or `init` (or both: `init`'s shape with `base`'s tokenizer)."""

    data: Path
    vqgan: Path
    base: Path | None = None  # a DalleBart folder
    init: Path | None = None  # a DalleBart config.json: a new model with random weights
    train_tokenizer: bool = False
    cache_root: Path | None = None  # image codes; None: the user dir's cache


@dataclass(frozen=True)
class TrainReport:
    out: Path
    checkpoint: Path
    steps: int  # optimizer updates, in total (resumes included)
    micro_steps: int
    epochs: float
    examples_seen: int
    seconds: float  # training time of this session (codes and compile included)
    seconds_per_step: float | None  # steady state: updates after the first of this session
    examples_per_second: float | None
    train_loss: float | None  # mean of the last logged updates (at most 10)
    eval_loss: float | None
    first_eval_loss: float | None
    params: int
    trainable_params: int
    data: DataReport
    train_examples: int
    test_examples: int
    config: RunConfig
    resumed_from: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out.update(
            out=str(self.out), checkpoint=str(self.checkpoint), data=self.data.to_dict(), config=asdict(self.config)
        )
        return out


# -- the model side ------------------------------------------------------------------------------------------


@dataclass
class _Model:
    raw_config: dict[str, Any]
    config: Any  # DalleBartConfig
    module: Any  # DalleBart
    params: dict  # float32 master weights
    dtypes: dict[str, str]  # "a/b/c" -> dtype the checkpoint stores
    text_files: dict[str, bytes]


def _model_code():
    """The DalleBart model code, imported in this one place."""
    from blogart.models.dalle import checkpoint as weights
    from blogart.models.dalle import dallebart as model

    return model, weights


def _read_text_files(folder: Path) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in TEXT_FILES if (folder / name).is_file()}


def _load_model(sources: Sources, seed: int) -> _Model:
    """Base weights (or new random ones) in float32, with the dtypes and text files to save them with."""
    model_code, weights = _model_code()
    if sources.init is not None:
        try:
            raw = json.loads(Path(sources.init).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UsageError(f"cannot read --init {sources.init}: {one_line(exc, named=True)}") from None
        if not isinstance(raw, dict):
            raise UsageError(f"--init {sources.init} is not a JSON object")
        raw = {"model_type": "dallebart", **raw}
        config = _parse_config(model_code, raw, sources.init)
        module = model_code.DalleBart(config)
        import jax

        params = jax.device_get(model_code.init_params(module, jax.random.PRNGKey(seed)))
        dtypes = {k: "float32" for k in weights.listing(params)}
        text = _read_text_files(sources.base) if sources.base is not None else {}
        return _Model(raw, config, module, params, dtypes, text)
    if sources.base is None:
        raise UsageError("give a base model (--model) or a config to train from scratch (--init)")
    raw = weights.read_config(sources.base)
    config = _parse_config(model_code, raw, sources.base)
    params = weights.load_params(sources.base, raw, "float32")
    stored = weights.read_msgpack_tree(Path(sources.base) / weights.WEIGHTS_NAME)
    return _Model(
        raw,
        config,
        model_code.DalleBart(config),
        params,
        {k: dtype for k, (_, dtype) in stored.items()},
        _read_text_files(Path(sources.base)),
    )


def _parse_config(model_code, raw: dict, where: Path) -> Any:
    try:
        return model_code.DalleBartConfig.from_dict(raw)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"{where}: not a DalleBart config ({exc})") from None


def _check_vqgan_fits(config: Any, vqgan: Path) -> None:
    from blogart.models.dalle.vqgan_config import VQGANConfig

    try:
        vq = VQGANConfig.from_dict(json.loads((Path(vqgan) / "config.json").read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError) as exc:
        raise UsageError(f"cannot read the VQGAN config in {vqgan}: {one_line(exc, named=True)}") from None
    if vq.num_codes != config.image_length or not config.codebook_size <= vq.n_embed <= config.image_vocab_size:
        raise UsageError(
            f"the VQGAN in {vqgan} ({vq.num_codes} codes of {vq.n_embed}) does not fit the model "
            f"({config.image_length} image tokens, image_vocab_size {config.image_vocab_size})"
        )


# -- text ---------------------------------------------------------------------------------------------------


def _encode_captions(model: _Model, captions: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(ids, mask) of every caption and of the empty prompt, with the model's own tokenizer and cleaning."""
    from blogart.models.dalle.text import TextNormalizer, encode_texts, load_tokenizer

    with tempfile.TemporaryDirectory() as tmp:
        for name, data in model.text_files.items():
            (Path(tmp) / name).write_bytes(data)
        tokenizer = load_tokenizer(tmp)
        normalize = bool(model.raw_config.get("normalize_text", True))
        normalizer = TextNormalizer.for_checkpoint(tmp) if normalize else None
        length = model.config.max_text_length
        ids, mask = encode_texts(tokenizer, captions, max_length=length, normalize=normalize, normalizer=normalizer)
        empty_ids, empty_mask = encode_texts(tokenizer, [""], max_length=length, normalize=False)
    if ids.size and int(ids.max()) >= model.config.encoder_vocab_size:
        raise UsageError(
            f"the tokenizer gives ids up to {int(ids.max())} but the model reads only "
            f"{model.config.encoder_vocab_size} (encoder_vocab_size)"
        )
    return ids, mask, empty_ids[0], empty_mask[0]


def _fit_tokenizer(model: _Model, captions: list[str]) -> None:
    from blogart.models.dalle.text import TextNormalizer
    from blogart.training.tokenizer import train_tokenizer

    if model.raw_config.get("normalize_text", True):
        normalizer = TextNormalizer()
        captions = [normalizer(c) for c in captions]
    model.text_files = train_tokenizer(captions, model.config.encoder_vocab_size)


# -- optimizer -----------------------------------------------------------------------------------------------


def trainable_mask(params: dict, freeze_encoder: bool, freeze_decoder_layers: int) -> dict:
    """1.0 where a parameter trains, 0.0 where it is frozen, as a tree of broadcastable float32 arrays.

    The decoder layers are stored stacked (leading axis = layer, as released with use_scan), so
    freezing the lowest K layers zeroes the first K slices of each stacked leaf, not whole leaves.
    """
    import jax
    import jax.numpy as jnp

    def leaf(path, value):
        keys = tuple(getattr(k, "key", k) for k in path)
        if freeze_encoder and keys[:2] == ("model", "encoder"):
            return jnp.zeros((), jnp.float32)
        if freeze_decoder_layers and keys[: len(DECODER_LAYERS)] == DECODER_LAYERS:
            layers = value.shape[0]
            keep = (jnp.arange(layers) >= freeze_decoder_layers).astype(jnp.float32)
            return keep.reshape((layers,) + (1,) * (value.ndim - 1))
        return jnp.ones((), jnp.float32)

    return jax.tree_util.tree_map_with_path(leaf, params)


def _scale_by_mask(mask: dict):
    """An optax transform multiplying every update by its mask (frozen slices get exactly zero)."""
    import jax
    import optax

    def init(params):
        return optax.EmptyState()

    def update(updates, state, params=None):
        return jax.tree.map(lambda u, m: u * m.astype(u.dtype), updates, mask), state

    return optax.GradientTransformation(init, update)


def build_optimizer(config: RunConfig, total_updates: int, mask: dict | None):
    """AdamW with warmup then cosine decay, global-norm clipping, freezing and accumulation."""
    import jax
    import optax

    warmup = max(1, round(total_updates * config.warmup)) if config.warmup > 0 else 0
    schedule = optax.warmup_cosine_decay_schedule(
        init_value=0.0,
        peak_value=config.lr,
        warmup_steps=warmup,
        decay_steps=max(total_updates, warmup + 1),
        end_value=config.lr * 0.1,
    )

    def decays(params):  # weight decay on matrices only, never on norms or biases
        return jax.tree_util.tree_map_with_path(lambda path, _: getattr(path[-1], "key", "") == "kernel", params)

    parts = [
        optax.clip_by_global_norm(config.clip_norm),
        optax.adamw(schedule, b1=0.9, b2=0.999, eps=1e-8, weight_decay=config.weight_decay, mask=decays),
    ]
    if mask is not None:
        # before clipping (frozen gradients do not count in the norm) and after AdamW (no weight decay either)
        parts = [_scale_by_mask(mask), *parts, _scale_by_mask(mask)]
    optimizer = optax.chain(*parts)
    if config.accumulate > 1:
        optimizer = optax.MultiSteps(optimizer, every_k_schedule=config.accumulate)
    return optimizer, schedule


# -- the compiled steps --------------------------------------------------------------------------------------


def _compute_params(params: dict, bf16: bool) -> dict:
    """The weights the forward reads: matrices in bfloat16 when asked (norms stay float32)."""
    if not bf16:
        return params
    import jax
    import jax.numpy as jnp

    def cast(path, p):
        return p.astype(jnp.bfloat16) if getattr(path[-1], "key", "") in ("kernel", "embedding") else p

    return jax.tree_util.tree_map_with_path(cast, params)


def token_losses(module, params: dict, batch: dict, bf16: bool, freeze_encoder: bool):
    """Cross-entropy per image token, (B, S) float32."""
    import jax
    import optax

    if freeze_encoder:  # no gradient through the encoder at all: XLA drops its backward pass
        params = {**params, "model": {**params["model"], "encoder": jax.lax.stop_gradient(params["model"]["encoder"])}}
    inputs = (batch["input_ids"], batch["attention_mask"], batch["decoder_input_ids"])
    logits = module.apply({"params": _compute_params(params, bf16)}, *inputs)
    return optax.softmax_cross_entropy_with_integer_labels(logits, batch["labels"])


def make_train_step(module, optimizer, config: RunConfig):
    """jit(params, opt_state, batch) -> (params, opt_state, loss); params and state are donated."""
    import jax
    import optax

    def loss_fn(params, batch):
        return token_losses(module, params, batch, config.bf16, config.freeze_encoder).mean()

    def step(params, opt_state, batch):
        loss, grads = jax.value_and_grad(loss_fn)(params, batch)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    return jax.jit(step, donate_argnums=(0, 1))


def make_eval_step(module, config: RunConfig):
    """jit(params, batch, weights) -> (summed token loss of the weighted rows, tokens counted)."""
    import jax

    def step(params, batch, weights):
        losses = token_losses(module, params, batch, config.bf16, False)
        return (losses.sum(-1) * weights).sum(), weights.sum() * losses.shape[-1]

    return jax.jit(step)


# -- batches -------------------------------------------------------------------------------------------------


@dataclass
class _Arrays:
    ids: np.ndarray
    mask: np.ndarray
    codes: np.ndarray

    def __len__(self) -> int:
        return len(self.codes)


def _batch(arrays: _Arrays, rows: np.ndarray, start_token: int) -> dict[str, np.ndarray]:
    codes = arrays.codes[rows]
    start = np.full((len(rows), 1), start_token, np.int32)
    return {
        "input_ids": arrays.ids[rows],
        "attention_mask": arrays.mask[rows],
        "decoder_input_ids": np.concatenate([start, codes[:, :-1]], axis=1),
        "labels": codes,
    }


class _Batches:
    """Micro-batch s of the run, a pure function of (seed, s)."""

    def __init__(self, train: _Arrays, config: RunConfig, start_token: int, empty: tuple[np.ndarray, np.ndarray]):
        self.train, self.config, self.start_token, self.empty = train, config, start_token, empty
        self.per_epoch = math.ceil(len(train) / config.batch_size)
        self._order: tuple[int, np.ndarray] | None = None

    def order(self, epoch: int) -> np.ndarray:
        if self._order is None or self._order[0] != epoch:
            self._order = (epoch, np.random.default_rng([self.config.seed, 0, epoch]).permutation(len(self.train)))
        return self._order[1]

    def __call__(self, s: int) -> dict[str, np.ndarray]:
        size = self.config.batch_size
        epoch, j = divmod(s, self.per_epoch)
        # The last batch of an epoch wraps around to its start, so every batch has one shape (one compile).
        rows = np.take(self.order(epoch), np.arange(j * size, (j + 1) * size), mode="wrap")
        batch = _batch(self.train, rows, self.start_token)
        drop = np.random.default_rng([self.config.seed, 1, s]).random(size) < self.config.text_dropout
        batch["input_ids"] = np.where(drop[:, None], self.empty[0][None], batch["input_ids"])
        batch["attention_mask"] = np.where(drop[:, None], self.empty[1][None], batch["attention_mask"])
        return batch


def evaluate(eval_step, params, test: _Arrays, batch_size: int, start_token: int) -> float | None:
    """Mean token loss over the held-out set (no caption dropout), or None without one."""
    if len(test) == 0:
        return None
    total, count = 0.0, 0.0
    for start in range(0, len(test), batch_size):
        rows = np.take(np.arange(len(test)), np.arange(start, start + batch_size), mode="wrap")
        weights = (np.arange(start, start + batch_size) < len(test)).astype(np.float32)
        loss, n = eval_step(params, _batch(test, rows, start_token), weights)
        total, count = total + float(loss), count + float(n)
    return total / count


# -- saving --------------------------------------------------------------------------------------------------


def _stored_params(params: dict, dtypes: dict[str, str]) -> dict:
    """Host copies of the params in the dtypes the checkpoint stores (the base's)."""
    import jax

    def cast(path, p):
        key = "/".join(str(getattr(k, "key", k)) for k in path)
        return np.asarray(jax.device_get(p)).astype(dtypes.get(key, "float32"))

    return jax.tree_util.tree_map_with_path(cast, params)


def _needs_master(dtypes: dict[str, str]) -> bool:
    return any(d != "float32" for d in dtypes.values())


def _data_digest(train: list[Example], test: list[Example]) -> str:
    digest = hashlib.sha256()
    for part in (train, test):
        for e in part:
            digest.update(f"{e.name}\0{e.sha256}\0{e.caption}\n".encode())
        digest.update(b"--\n")
    return digest.hexdigest()


# -- the run -------------------------------------------------------------------------------------------------


KIND = "dallebart"  # trainer.json's "trainer": which command's run a folder holds


@dataclass(frozen=True)
class _SavedSources:
    vqgan: str
    base: str | None = None
    data: str | None = None
    init: str | None = None
    train_tokenizer: bool = False


@dataclass(frozen=True)
class _Counters:
    micro_step: int
    pending_losses: list[float]
    seconds: float
    step: int | None = None
    epoch: float | None = None
    first_eval_loss: float | None = None


def _saved_run(out: Path, trainer: dict[str, Any]) -> tuple[RunConfig, _SavedSources, _Counters]:
    """The config, sources and counters a run saved, checked; one UsageError line naming what is wrong."""
    from pydantic import TypeAdapter, ValidationError

    where = f"cannot resume {out}"
    for key in ("config", "sources", "counters"):
        if key not in trainer:
            raise UsageError(f"{where}: its {checkpoints.TRAINER_FILE} has no {key!r}; start a new --out")
    try:
        config = RunConfig.from_dict(trainer["config"])
    except UsageError as exc:
        raise UsageError(f"{where}: {exc}; start a new --out") from None
    try:
        kept = TypeAdapter(_SavedSources).validate_python(trainer["sources"])
        counters = TypeAdapter(_Counters).validate_python(trainer["counters"])
    except ValidationError as exc:
        error = exc.errors()[0]
        key = ".".join(str(part) for part in error["loc"])
        raise UsageError(f"{where}: its {checkpoints.TRAINER_FILE} key {key!r}: {error['msg'].lower()}") from None
    if counters.micro_step < 0 or not math.isfinite(counters.seconds):
        raise UsageError(f"{where}: its {checkpoints.TRAINER_FILE} counters are out of range; start a new --out")
    return config, kept, counters


@dataclass
class _Session:
    """One invocation of a run: what `_prepare` found and built, and the state and counters the loop moves on.

    `saved` is the checkpoint resumed from (None for a new run); everything else follows from it."""

    out: Path
    config: RunConfig
    sources: Sources
    run_sources: dict[str, Any]  # what trainer.json records as the run's sources
    saved: checkpoints.Checkpoint | None
    began: float
    tell: Progress
    model: _Model
    data_report: DataReport
    train: list[Example]
    test: list[Example]
    digest: str
    test_arrays: _Arrays
    batches: _Batches
    total_updates: int
    trainable: dict | None
    optimizer: Any
    schedule: Any
    params: Any
    opt_state: Any
    micro: int = 0
    pending: list[float] = field(default_factory=list)
    elapsed_before: float = 0.0
    first_eval: float | None = None
    losses: list[float] = field(default_factory=list)
    eval_loss: float | None = None
    step_times: list[float] = field(default_factory=list)
    session_start_micro: int = 0

    @property
    def k(self) -> int:
        return self.config.accumulate

    @property
    def total_micro(self) -> int:
        return self.total_updates * self.config.accumulate


def finetune(
    out: Path,
    sources: Sources,
    config: RunConfig,
    resume: bool = False,
    progress: Progress | None = None,
) -> TrainReport:
    """Train and save checkpoints into `out`; with `resume`, continue the run saved there instead.

    A resumed run keeps the config and sources it was started with (read from its checkpoint), so it
    produces what the uninterrupted run would have.
    """
    run = _prepare(Path(out), sources, config, resume, progress or ignore)
    last = _loop(run)
    if last is None:  # nothing left to train: a finished run resumed
        last = run.saved.folder if run.saved is not None else _save(run)
    report = _report(run, last)
    atomic_write_json(run.out / REPORT_FILE, report.to_dict())
    return report


def _prepare(out: Path, sources: Sources, config: RunConfig, resume: bool, tell: Progress) -> _Session:
    """The run to train: its config and sources (a resumed run's own), data, model, encoded captions,
    image codes, batches, optimizer and starting state (restored from the checkpoint when resuming)."""
    import jax

    began = time.perf_counter()
    saved = checkpoints.current(out)
    counters = None
    if resume:
        config, sources, counters, run_sources = _resumed(out, sources, saved)
    elif saved is not None:
        raise UsageError(
            f"{out} already holds a run (step {saved.step}); pass --resume to continue it or choose another --out"
        )
    else:
        run_sources = {
            "data": str(sources.data),
            "vqgan": str(sources.vqgan),
            "base": str(sources.base) if sources.base else None,
            "init": str(sources.init) if sources.init else None,
            "train_tokenizer": sources.train_tokenizer,
        }
    config.check()

    examples, data_report = load_examples(sources.data, strict=config.strict)
    train, test = split_examples(examples, config.test_fraction, config.seed)
    digest = _data_digest(train, test)
    if saved is not None and saved.trainer.get("data_digest") != digest:
        raise UsageError(f"the data set {sources.data} changed since this run started: start a new --out")
    model = _checked_model(sources, config, train, resumed=saved is not None)
    train_arrays, test_arrays, empty = _arrays(model, sources, train, test, tell)
    batches = _Batches(train_arrays, config, model.config.decoder_start_token_id, empty)

    total_updates = config.steps or max(1, math.ceil(config.epochs * batches.per_epoch / config.accumulate))
    frozen = config.freeze_encoder or config.freeze_decoder_layers > 0
    trainable = trainable_mask(model.params, config.freeze_encoder, config.freeze_decoder_layers) if frozen else None
    optimizer, schedule = build_optimizer(config, total_updates, trainable)
    params = jax.tree.map(lambda p: jax.numpy.asarray(p, jax.numpy.float32), model.params)
    run = _Session(
        out=out,
        config=config,
        sources=sources,
        run_sources=run_sources,
        saved=saved,
        began=began,
        tell=tell,
        model=model,
        data_report=data_report,
        train=train,
        test=test,
        digest=digest,
        test_arrays=test_arrays,
        batches=batches,
        total_updates=total_updates,
        trainable=trainable,
        optimizer=optimizer,
        schedule=schedule,
        params=params,
        opt_state=optimizer.init(params),
    )
    if saved is not None and counters is not None:
        _resume(run, saved, counters)
    run.params = jax.device_put(run.params)
    run.opt_state = jax.device_put(run.opt_state)
    run.session_start_micro = run.micro
    return run


def _resumed(
    out: Path, sources: Sources, saved: checkpoints.Checkpoint | None
) -> tuple[RunConfig, Sources, _Counters, dict[str, Any]]:
    """The config, sources (the checkpoint is the model now), counters and recorded sources of the run to resume."""
    if saved is None:
        raise UsageError(f"nothing to resume in {out}: it has no {checkpoints.POINTER}")
    checkpoints.require_kind(out, saved, KIND)
    config, kept, counters = _saved_run(out, saved.trainer)
    # the checkpoint is the model now: its weights, config and tokenizer
    resumed = Sources(data=Path(sources.data), vqgan=Path(kept.vqgan), base=saved.folder, cache_root=sources.cache_root)
    run_sources = {
        "data": str(resumed.data),
        "vqgan": str(resumed.vqgan),
        "base": kept.base,
        "init": None,
        "train_tokenizer": False,
    }
    return config, resumed, counters, run_sources


def _checked_model(sources: Sources, config: RunConfig, train: list[Example], resumed: bool) -> _Model:
    """The model to train, checked against the VQGAN, its tokenizer and the layers to freeze."""
    model = _load_model(sources, config.seed)
    _check_vqgan_fits(model.config, sources.vqgan)
    if sources.train_tokenizer and not resumed:
        _fit_tokenizer(model, [e.caption for e in train])
    if "vocab.json" not in model.text_files and "tokenizer.json" not in model.text_files:
        raise UsageError("the new model needs a tokenizer: add --train-tokenizer, or --model BASE to reuse its own")
    n_decoder = model.config.decoder_layers
    if config.freeze_decoder_layers > n_decoder:
        raise UsageError(f"--freeze-decoder-layers {config.freeze_decoder_layers}: the model has {n_decoder}")
    return model


def _arrays(
    model: _Model, sources: Sources, train: list[Example], test: list[Example], tell: Progress
) -> tuple[_Arrays, _Arrays, tuple[np.ndarray, np.ndarray]]:
    """Training and held-out arrays (caption ids and mask, image codes), and the empty prompt's ids and mask."""
    ids, mask, empty_ids, empty_mask = _encode_captions(model, [e.caption for e in train + test])
    # Pad only to the longest caption, not to max_text_length: padded keys are masked out, so the
    # loss is the same, and the encoder does less work.
    width = max(int(mask.sum(1).max()), int(empty_mask.sum()))
    ids, mask, empty_ids, empty_mask = ids[:, :width], mask[:, :width], empty_ids[:width], empty_mask[:width]
    codes = image_codes(
        train + test, sources.vqgan, sources.cache_root, report=lambda d, t: tell(TrainEvent("codes", d, t))
    )
    n = len(train)
    return _Arrays(ids[:n], mask[:n], codes[:n]), _Arrays(ids[n:], mask[n:], codes[n:]), (empty_ids, empty_mask)


def _resume(run: _Session, saved: checkpoints.Checkpoint, counters: _Counters) -> None:
    """Optimizer state (and float32 master weights) and counters from the checkpoint; the log cut back to it."""
    from flax.serialization import from_bytes

    state = from_bytes(
        {"opt_state": run.opt_state, "master": run.params if _needs_master(run.model.dtypes) else None},
        (saved.folder / checkpoints.STATE_FILE).read_bytes(),
    )
    run.opt_state = state["opt_state"]
    if state["master"] is not None:
        run.params = state["master"]
    run.micro, run.pending = counters.micro_step, list(counters.pending_losses)
    run.elapsed_before, run.first_eval = counters.seconds, counters.first_eval_loss
    RunLog(run.out / LOG_FILE).trim_after("micro_step", run.micro)
    checkpoints.prune(run.out)


def _loop(run: _Session) -> Path | None:
    """Train to the last update, logging, evaluating and saving on the way; the last checkpoint saved, if any."""
    train_step = make_train_step(run.model.module, run.optimizer, run.config)
    eval_step = make_eval_step(run.model.module, run.config)
    k, per_epoch, test = run.k, run.batches.per_epoch, run.test_arrays
    log = _TimedLog(run.out / LOG_FILE)
    last = None

    def held_out_loss() -> float | None:
        return evaluate(eval_step, run.params, test, run.config.batch_size, run.batches.start_token)

    run.out.mkdir(parents=True, exist_ok=True)
    if run.micro == 0 and len(test):
        run.first_eval = held_out_loss()
        log.write({"kind": "eval", "step": 0, "micro_step": 0, "epoch": 0.0, "loss": run.first_eval})
    run.tell(TrainEvent("train", run.micro // k, run.total_updates))
    while run.micro < run.total_micro:
        t0 = time.perf_counter()
        run.params, run.opt_state, loss = train_step(run.params, run.opt_state, run.batches(run.micro))
        run.micro += 1
        run.pending.append(float(loss))  # also waits for the step: the timings below are real
        run.step_times.append(time.perf_counter() - t0)
        epoch_end = run.micro % per_epoch == 0
        if run.micro % k == 0:
            _log_update(run, log)
        if len(test) and (epoch_end or run.micro == run.total_micro):
            run.eval_loss = held_out_loss()
            epoch = round(run.micro / per_epoch, 4)
            log.write(
                {"kind": "eval", "step": run.micro // k, "micro_step": run.micro, "epoch": epoch, "loss": run.eval_loss}
            )
            run.tell(TrainEvent("eval", run.micro // k, run.total_updates, eval_loss=run.eval_loss))
        every = run.config.save_every
        due = (every and run.micro % k == 0 and (run.micro // k) % every == 0) or (every is None and epoch_end)
        if due or run.micro == run.total_micro:
            last = _save(run)
    return last


def _log_update(run: _Session, log: RunLog) -> None:
    """An optimizer update is done: its mean micro-batch loss to the log and the progress display."""
    update = run.micro // run.k
    run.losses.append(sum(run.pending) / len(run.pending))
    run.pending = []
    log.write(
        {
            "kind": "train",
            "step": update,
            "micro_step": run.micro,
            "epoch": round(run.micro / run.batches.per_epoch, 4),
            "loss": run.losses[-1],
            "lr": float(run.schedule(update - 1)),
        }
    )
    run.tell(TrainEvent("train", update, run.total_updates, loss=run.losses[-1], eval_loss=run.eval_loss))


def _save(run: _Session) -> Path:
    """A checkpoint at the current micro-step: the model folder, the optimizer state and trainer.json."""
    import jax
    from flax.serialization import to_bytes

    model, k = run.model, run.k
    files = {"config.json": (json.dumps(model.raw_config, indent=2) + "\n").encode()}
    files["flax_model.msgpack"] = to_bytes(_stored_params(run.params, model.dtypes))
    files.update(model.text_files)
    master = jax.device_get(run.params) if _needs_master(model.dtypes) else None
    files[checkpoints.STATE_FILE] = to_bytes({"opt_state": jax.device_get(run.opt_state), "master": master})
    trainer = {
        "trainer": KIND,
        "config": asdict(run.config),
        "sources": run.run_sources,
        "data_digest": run.digest,
        "counters": {
            "micro_step": run.micro,
            "step": run.micro // k,
            "epoch": run.micro / run.batches.per_epoch,
            "pending_losses": run.pending,
            "seconds": run.elapsed_before + time.perf_counter() - run.began,
            "first_eval_loss": run.first_eval,
        },
    }
    run.tell(TrainEvent("save", run.micro // k, run.total_updates))
    return checkpoints.write(run.out, run.micro // k, files, trainer).folder


def _report(run: _Session, last: Path) -> TrainReport:
    import jax

    config, k, micro = run.config, run.k, run.micro
    leaves = jax.tree.leaves(run.params)
    n_params = sum(int(np.prod(p.shape)) for p in leaves)
    n_trainable = n_params
    if run.trainable is not None:
        n_trainable = sum(
            int(np.prod(p.shape) * float(np.mean(np.broadcast_to(m, p.shape))))
            for p, m in zip(leaves, jax.tree.leaves(run.trainable), strict=True)
        )
    steady = run.step_times[1:] if len(run.step_times) > 1 else run.step_times
    per_update = sum(steady) / len(steady) * k if steady else None
    losses = run.losses[-10:]
    return TrainReport(
        out=run.out,
        checkpoint=last,
        steps=micro // k,
        micro_steps=micro,
        epochs=round(micro / run.batches.per_epoch, 4),
        examples_seen=micro * config.batch_size,
        seconds=round(time.perf_counter() - run.began, 3),
        seconds_per_step=round(per_update, 4) if per_update else None,
        examples_per_second=round(config.batch_size * k / per_update, 2) if per_update else None,
        train_loss=sum(losses) / len(losses) if losses else None,
        eval_loss=run.eval_loss,
        first_eval_loss=run.first_eval,
        params=n_params,
        trainable_params=n_trainable,
        data=run.data_report,
        train_examples=len(run.train),
        test_examples=len(run.test),
        config=config,
        resumed_from=run.saved.step if run.saved is not None else None,
        extra={
            "examples_this_session": (micro - run.session_start_micro) * config.batch_size,
            "device": str(jax.devices()[0].platform),
        },
    )


class _TimedLog(RunLog):
    """The run log, each record stamped with the wall-clock time it was written."""

    def write(self, record: dict[str, Any]) -> None:
        super().write({**record, "time": round(time.time(), 3)})
