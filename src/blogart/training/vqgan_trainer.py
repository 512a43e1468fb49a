"""`blogart vqgan train`: train or fine-tune a VQGAN on a folder of images, resumably.

One jit-compiled step does everything that touches the model: reconstruction loss (L1 + L2), the
codebook and commitment losses with a straight-through gradient, an optional PatchGAN hinge loss
after `disc_start` steps (with the discriminator's own update), and dead-code restarts: every
`restart_every` steps, codebook entries no batch has chosen since the last restart are re-seeded
from this batch's encoder outputs. From scratch, step 0 re-seeds every entry (all are unused), which
initialises the codebook from data. Without restarts a small codebook collapses to a few codes.

The output folder is a released-format VQGAN (config.json + flax_model.msgpack, the latest
checkpoint's weights) with the run beside it in the layout `blogart finetune` uses
(`training.checkpoints`): checkpoints/step-N/ (the model files, train_state.msgpack with params,
optimizer, discriminator, code usage and step, and trainer.json with the options), checkpoint.json
naming the current one, log.jsonl (one line per `log_every` steps and eval lines) and report.json.
A checkpoint becomes current by one atomic pointer write, so a kill -9 at any moment leaves a whole
one. Runs saved before this layout (train/state.msgpack + train/run.json) are still resumed.
Everything random (data order, restarts) is derived from (seed, step), so a resumed run computes the
same steps as an uninterrupted one.

With `decoder_only` the encoder, quant_conv and codebook are frozen and only post_quant_conv and the
decoder learn: every image keeps its codes, so a DalleBart trained on this VQGAN's codes stays valid
while reconstructions sharpen. There are no VQ losses and no restarts then (the codebook is fixed).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from blogart.atomic import atomic_write_json
from blogart.errors import UsageError
from blogart.models.dalle.vqgan import load_vqgan, make_module, param_tree
from blogart.models.dalle.vqgan_config import VQGANConfig, check_config, read_config
from blogart.training import checkpoints
from blogart.training.data import ImageSet, load_images
from blogart.training.images import MIN_SIDE
from blogart.training.options import check_float, check_int, check_seed
from blogart.training.progress import Progress, TrainEvent, ignore
from blogart.training.runlog import LOG_FILE, RunLog
from blogart.training.vqgan_model import (
    codebook,
    decode,
    discriminator,
    init_params,
    latents,
    quantize,
    save_vqgan,
    unit,
    vqgan_files,
    with_codebook,
)

REPORT_FILE = "report.json"
KIND = "vqgan"  # trainer.json's "trainer": which command's run a folder holds
EVAL_BATCH = 16
DEFAULT_EPOCHS = 10


@dataclass(frozen=True)
class TrainOptions:
    data: tuple[str, ...]
    out: str
    base: str | None = None  # --from: a VQGAN folder to fine-tune
    init: str | None = None  # --init: a config JSON to train from scratch
    steps: int | None = None  # total steps; None: epochs x steps per epoch
    epochs: int | None = None  # None: DEFAULT_EPOCHS
    batch_size: int = 16
    lr: float = 2e-4  # measured: 1e-3 stalls a from-scratch model near the data's mean, 1e-4..2e-4 learns
    warmup: int = 50
    weight_decay: float = 1e-4
    beta: float = 0.25  # commitment weight
    seed: int = 0
    size: int | None = None  # image side; None: the config's resolution
    crop: int | None = None  # train on random crops of this side (the model is convolutional), evaluate whole
    max_minutes: float | None = None  # stop (checkpointed, resumable) after this long
    save_every: int = 500
    log_every: int = 10
    restart_every: int = 25  # 0: no dead-code restarts
    disc_start: int | None = None  # None: no discriminator
    disc_weight: float = 0.1
    decoder_only: bool = False  # freeze encoder and codebook: codes stay as they are (needs --from)
    decoder_blocks: tuple[int, ...] | None = None  # grow the decoder to these blocks per level (decoder_only)
    test_fraction: float = 0.05
    max_test: int = 128

    # A saved run with a key this version does not know is refused: that option would be silently dropped.
    __pydantic_config__: ClassVar[dict[str, Any]] = {"extra": "forbid"}

    def check(self) -> None:
        """One UsageError line for the first option out of range (every number finite)."""
        for name in ("batch_size", "save_every", "log_every"):
            check_int(name, getattr(self, name), 1)
        for name in ("steps", "epochs", "crop"):
            if getattr(self, name) is not None:
                check_int(name, getattr(self, name), 1)
        if self.size is not None:
            check_int("size", self.size, MIN_SIDE)
        for name in ("warmup", "restart_every", "max_test"):
            check_int(name, getattr(self, name), 0)
        if self.disc_start is not None:
            check_int("disc_start", self.disc_start, 0)
        for count in self.decoder_blocks or ():
            check_int("decoder_blocks", count, 1)
        check_seed(self.seed)
        check_float("lr", self.lr, above=0, at_most=1)
        check_float("disc_weight", self.disc_weight, at_least=0)
        if self.max_minutes is not None:
            check_float("max_minutes", self.max_minutes, above=0)
        check_float("weight_decay", self.weight_decay, at_least=0)
        check_float("beta", self.beta, at_least=0)
        check_float("test_fraction", self.test_fraction, at_least=0, below=1)


@dataclass
class TrainResult:
    out: Path
    report: dict[str, Any]
    skipped: str = ""


@dataclass
class _Run:
    """A run: its data split, model, compiled functions and the state they move on."""

    options: TrainOptions
    config: VQGANConfig
    images: ImageSet
    train: np.ndarray  # uint8 (N, S, S, 3)
    test: np.ndarray
    total_steps: int
    steps_per_epoch: int
    batch_size: int
    fns: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)  # params, optimizer, code usage, step (, discriminator)
    start: int = 0  # the step this invocation started from
    out: Path = field(default_factory=Path)  # this invocation's --out (a resumed run's folder may have moved)


def train(options: TrainOptions, resume: bool = False, progress: Progress | None = None) -> TrainResult:
    """Train (or continue) a run in `options.out`; returns where it is and report.json's content.

    `progress` gets a TrainEvent after every step (loss, and PSNR and codes in use in its note).
    """
    run = _prepare(options, resume)
    started = time.perf_counter()
    latest = _loop(run, progress or ignore, started)
    report = _report(run, latest, time.perf_counter() - started)
    atomic_write_json(run.out / REPORT_FILE, report)
    return TrainResult(run.out, report, run.images.skipped_summary())


def _prepare(options: TrainOptions, resume: bool) -> _Run:
    """The run to train: a saved run's options when resuming, the model, the images, the compiled steps and
    the state to start from (the saved one, when there is one)."""
    options.check()
    out = Path(options.out)
    saved_options, state_bytes = _saved_run(out)
    if state_bytes is not None and not resume:
        raise UsageError(f"{out} already holds a training run: pass --resume to continue it, or choose another --out")
    if resume and saved_options is not None:
        # The saved run decides everything except how long it runs (and this invocation's time limit).
        options = replace(
            saved_options,
            steps=options.steps or saved_options.steps,
            epochs=options.epochs or saved_options.epochs,
            max_minutes=options.max_minutes,
        )
    config, base_params = _model_config(options)
    images = load_images(options.data, options.size or config.resolution)
    run = _plan(options, config, images)
    run.out = out
    out.mkdir(parents=True, exist_ok=True)
    run.state = initial_state(config, options, run.fns, base_params)
    _resume(run, state_bytes)
    return run


def _resume(run: _Run, state_bytes: bytes | None) -> None:
    """The saved train state, when there is one, and the log cut back to the step it starts from."""
    if state_bytes is not None:
        from flax.serialization import from_bytes

        run.state = from_bytes(run.state, state_bytes)
        save_vqgan(run.out, run.config, run.state["params"])  # the exported model may lag the state after a kill
    run.start = int(run.state["step"])
    RunLog(run.out / LOG_FILE).trim_after("step", run.start)
    if state_bytes is not None:
        checkpoints.prune(run.out)


def _loop(run: _Run, progress: Progress, started: float) -> dict[str, Any]:
    """Steps to the end (or the clock's limit), logging every `log_every`, saving every `save_every`;
    the latest log line, with the latest held-out figures."""
    options, config = run.options, run.config
    log = RunLog(run.out / LOG_FILE)
    window: list[dict[str, Any]] = []
    usage = np.zeros(config.n_embed, np.int64)
    latest: dict[str, Any] = {}
    for step in range(run.start, run.total_steps):
        if options.max_minutes is not None and time.perf_counter() - started > options.max_minutes * 60:
            break
        use_disc = options.disc_start is not None and step >= options.disc_start
        run.state, metrics = run.fns["disc_step" if use_disc else "step"](run.state, _batch(run, step))
        metrics = {k: np.asarray(v) for k, v in metrics.items()}
        usage += metrics.pop("counts").astype(np.int64)
        window.append(metrics)
        done = step + 1
        checkpoint = done % options.save_every == 0 or done == run.total_steps
        # a log line at every checkpoint too, so that a resumed run's windows match an uninterrupted one's
        if done % options.log_every == 0 or checkpoint:
            latest = _log_line(run, done, window, usage, time.perf_counter() - started)
            log.write(latest)
            window, usage = [], np.zeros(config.n_embed, np.int64)
        if checkpoint:
            latest = _checkpoint(run, latest, log)
        progress(_event(done, run.total_steps, latest, "save" if checkpoint else "train"))
    step = int(run.state["step"])
    if step % options.save_every and step < run.total_steps:  # stopped by the clock
        if window:
            latest = _log_line(run, step, window, usage, time.perf_counter() - started)
            log.write(latest)
        latest = _checkpoint(run, latest, log)
    return latest


def _event(done: int, total: int, latest: dict[str, Any], phase: str) -> TrainEvent:
    note = ""
    if "psnr" in latest:
        note = f"PSNR {latest['psnr']:.2f} dB  codes {latest['codes_used']}"
    if "eval_psnr" in latest:
        note += f"  held-out {latest['eval_psnr']:.2f} dB"
    return TrainEvent(phase, done, total, loss=latest.get("loss"), note=note)


# -- setup ----------------------------------------------------------------------------------------------


def has_run(out: str | Path) -> bool:
    """Whether `out` holds a run that --resume can continue."""
    return _saved_run(Path(out))[1] is not None


def _saved_run(out: Path) -> tuple[TrainOptions | None, bytes | None]:
    """(options, train state bytes) of the run saved in `out`; Nones when there is none."""
    saved = checkpoints.current(out)
    if saved is None:
        return None, None
    try:
        checkpoints.require_kind(out, saved, KIND)
        options = saved.trainer.get("options")
        state = (saved.folder / checkpoints.STATE_FILE).read_bytes()
    except (OSError, ValueError, AttributeError):
        raise UsageError(f"cannot resume {out}: its saved run cannot be read; start a new --out") from None
    return _saved_options(out, options), state


def _saved_options(out: Path, options: Any) -> TrainOptions:
    """The options a run saved, checked as the command line's are; one UsageError line naming what is wrong."""
    from pydantic import TypeAdapter, ValidationError

    if not isinstance(options, dict):
        raise UsageError(f"cannot resume {out}: its saved run has no options; start a new --out")
    try:
        parsed = TypeAdapter(TrainOptions).validate_python(options)
        parsed.check()
    except ValidationError as exc:
        error = exc.errors()[0]
        key = ".".join(str(part) for part in error["loc"])
        raise UsageError(f"cannot resume {out}: its saved option {key!r}: {error['msg'].lower()}") from None
    except UsageError as exc:
        raise UsageError(f"cannot resume {out}: its saved {exc}") from None
    return parsed


def _model_config(options: TrainOptions) -> tuple[VQGANConfig, dict | None]:
    """The config to train and, when fine-tuning, the starting parameters."""
    if options.base and options.init:
        raise UsageError("give either --from (fine-tune a VQGAN) or --init (a new one from a config), not both")
    if options.decoder_only and not options.base:
        raise UsageError("--decoder-only fine-tunes a trained VQGAN's decoder: give --from VQGAN")
    if options.init:
        config = read_config(options.init)
        if options.size and options.size != config.resolution:
            config = replace(config, resolution=options.size)
            check_config(config)
        return config, None
    if not options.base:
        raise UsageError("no starting model: give --from VQGAN or --init CONFIG.json")
    bundle = load_vqgan(options.base)
    config = bundle.config
    check_config(config)
    if options.size and options.size != config.resolution:
        resized = replace(config, resolution=options.size)
        if param_tree(resized) != param_tree(config):  # attention placement follows the resolution
            raise UsageError(
                f"--size {options.size} changes which levels of {options.base} have attention; "
                f"train at its resolution {config.resolution}"
            )
        check_config(resized)
        config = resized
    import jax

    params = jax.tree_util.tree_map(np.asarray, bundle.params)
    if options.decoder_blocks is not None:
        config, params = _grown(config, params, options)
    return config, params


def _grown(config: VQGANConfig, params: dict, options: TrainOptions) -> tuple[VQGANConfig, dict]:
    """The model with `options.decoder_blocks` decoder blocks per level, computing what `params` computes:
    new blocks are appended to their level with their residual branch at zero (so each starts as the
    identity), and everything else keeps its trained weights."""
    if not options.decoder_only:
        raise UsageError("--decoder-blocks grows the decoder of a frozen VQGAN: add --decoder-only")
    blocks = tuple(options.decoder_blocks or ())
    if len(blocks) != config.num_resolutions:
        raise UsageError(f"--decoder-blocks needs {config.num_resolutions} counts (one per level), got {len(blocks)}")
    now = tuple(config.blocks_at(level) for level in range(config.num_resolutions))
    if any(new < old for new, old in zip(blocks, now, strict=True)):
        raise UsageError(f"--decoder-blocks can only add blocks: {options.base} has {list(now)} per level")
    grown = replace(config, decoder_blocks=blocks)
    fresh = residuals_start_at_zero(init_params(grown, options.seed))
    return grown, _overlay(fresh, params)


def _overlay(fresh: dict, trained: dict) -> dict:
    """`fresh` with every leaf that `trained` also has replaced by the trained one."""
    merged = {}
    for key, value in fresh.items():
        if key not in trained:
            merged[key] = value
        elif isinstance(value, dict):
            merged[key] = _overlay(value, trained[key])
        else:
            merged[key] = np.asarray(trained[key])
    return merged


def _plan(options: TrainOptions, config: VQGANConfig, images: ImageSet) -> _Run:
    """The data split (held-out images drawn by the seed), batch size, step count and compiled steps."""
    factor = 2 ** (config.num_resolutions - 1)
    if options.crop is not None and (options.crop % factor or options.crop > images.pixels.shape[1]):
        raise UsageError(f"--crop must be a multiple of {factor} no larger than the image side")
    order = np.random.default_rng(options.seed).permutation(len(images))
    test_count = min(options.max_test, int(len(images) * options.test_fraction)) if len(images) >= 20 else 0
    test, train_images = images.pixels[order[:test_count]], images.pixels[order[test_count:]]
    batch_size = min(options.batch_size, len(train_images))
    steps_per_epoch = max(1, len(train_images) // batch_size)
    total = options.steps if options.steps is not None else (options.epochs or DEFAULT_EPOCHS) * steps_per_epoch
    if total < 1:
        raise UsageError("nothing to train: --steps or --epochs must be >= 1")
    run = _Run(options, config, images, train_images, test, total, steps_per_epoch, batch_size)
    run.fns = compile_steps(config, options, total)
    return run


def _batch(run: _Run, step: int) -> np.ndarray:
    """The images of `step`: epoch e visits the training set in the order of a permutation seeded by e;
    crops (with --crop) are placed by a generator seeded by the step."""
    epoch, position = divmod(step, run.steps_per_epoch)
    order = np.random.default_rng([run.options.seed, epoch]).permutation(len(run.train))
    picked = run.train[np.sort(order[position * run.batch_size : (position + 1) * run.batch_size])]
    crop = run.options.crop
    if crop and crop < picked.shape[1]:
        rng = np.random.default_rng([run.options.seed, epoch, position, 1])
        corners = rng.integers(0, picked.shape[1] - crop + 1, size=(len(picked), 2))
        picked = np.stack([image[y : y + crop, x : x + crop] for image, (y, x) in zip(picked, corners, strict=True)])
    return picked.astype(np.float32) / 255.0


# -- the compiled step ----------------------------------------------------------------------------------


def _optimizer(options: TrainOptions, total: int):
    import jax
    import optax

    warmup = min(options.warmup, max(1, total // 10))
    schedule = optax.warmup_cosine_decay_schedule(
        0.0, options.lr, warmup, max(total, warmup + 1), end_value=options.lr * 0.05
    )

    def decayed(params):  # weight decay on convolution kernels only, not norms, biases or the codebook
        return jax.tree_util.tree_map_with_path(lambda path, _: getattr(path[-1], "key", "") == "kernel", params)

    tx = optax.chain(
        optax.clip_by_global_norm(1.0),
        optax.adamw(schedule, b1=0.9, b2=0.99, weight_decay=options.weight_decay, mask=decayed),
    )
    if options.decoder_only:  # frozen parts get no update at all (weight decay included)
        tx = optax.multi_transform({"train": tx, "frozen": optax.set_to_zero()}, decoder_labels)
    return tx, schedule


DECODER_PARTS = ("post_quant_conv", "decoder")


def decoder_labels(params: dict) -> dict:
    """ "train" for the parts that turn codes into pixels, "frozen" for the rest (encoder, quant_conv, codebook)."""
    return {name: _label_all(tree, "train" if name in DECODER_PARTS else "frozen") for name, tree in params.items()}


def _label_all(tree: Any, label: str) -> Any:
    import jax

    return jax.tree_util.tree_map(lambda _: label, tree)


def residuals_start_at_zero(params: dict) -> dict:
    """Zero the last kernel of every residual branch (conv2, attention's proj_out), so that a new model
    starts as a shallow network of skip connections; measured to learn faster than the default init."""
    import jax

    def zero(path, leaf):
        names = [getattr(key, "key", "") for key in path]
        return leaf * 0 if names[-1] == "kernel" and names[-2] in ("conv2", "proj_out") else leaf

    return jax.tree_util.tree_map_with_path(zero, params)


def initial_state(
    config: VQGANConfig, options: TrainOptions, fns: dict[str, Any], base_params: dict | None = None
) -> dict[str, Any]:
    """Step 0: fresh or given parameters, optimizer state, code usage, and the discriminator if used."""
    import jax
    import jax.numpy as jnp

    params = base_params if base_params is not None else residuals_start_at_zero(init_params(config, options.seed))
    params = jax.tree_util.tree_map(jnp.asarray, params)
    state = {
        "step": jnp.zeros((), jnp.int32),
        "params": params,
        "opt_state": fns["tx"].init(params),
        # a fine-tune starts with every code counted as used: its codebook is already trained
        "usage": jnp.zeros(config.n_embed, jnp.int32) if base_params is None else jnp.ones(config.n_embed, jnp.int32),
    }
    if options.disc_start is not None:
        size = options.size or config.resolution
        dparams = jax.jit(fns["disc"].init)(
            jax.random.PRNGKey(options.seed + 1), jnp.zeros((1, size, size, 3), jnp.float32)
        )["params"]
        state["disc_params"] = dparams
        state["disc_opt_state"] = fns["dtx"].init(dparams)
    return state


@dataclass(frozen=True)
class _StepParts:
    """What the compiled step closes over: the model, the optimizers, the discriminator and the run's key."""

    config: VQGANConfig
    options: TrainOptions
    module: Any
    tx: Any
    schedule: Any
    disc: Any
    dtx: Any
    key: Any


def compile_steps(config: VQGANConfig, options: TrainOptions, total_steps: int) -> dict[str, Any]:
    """The jitted train step (with and without the discriminator), the optimizers and the eval forward."""
    import jax
    import optax

    module = make_module(config)
    tx, schedule = _optimizer(options, total_steps)
    disc = discriminator()
    dtx = optax.adam(options.lr * 0.5, b1=0.5, b2=0.9)
    parts = _StepParts(config, options, module, tx, schedule, disc, dtx, jax.random.PRNGKey(options.seed))
    encode = jax.jit(lambda params, pixels: module.apply({"params": params}, pixels))
    return {
        "tx": tx,
        "dtx": dtx,
        "disc": disc,
        "step": jax.jit(lambda s, x: _train_step(parts, s, x, False), donate_argnums=0),
        "disc_step": jax.jit(lambda s, x: _train_step(parts, s, x, True), donate_argnums=0),
        "reconstruct": encode,
    }


def _generator_loss(parts: _StepParts, params, dparams, pixels, disc_weight):
    """Reconstruction (L1 + L2), the VQ losses (not with decoder_only) and the discriminator's, when it is on."""
    import jax
    import jax.numpy as jnp

    config, options, module = parts.config, parts.options, parts.module
    if options.decoder_only:  # the codes are constants: no encoder backward pass, no VQ losses
        sg = jax.lax.stop_gradient
        quant = quantize(config, sg(codebook(params)), sg(latents(module, params, pixels)))
    else:
        quant = quantize(config, codebook(params), latents(module, params, pixels))
    recon = decode(module, params, quant["states"])
    l1 = jnp.mean(jnp.abs(recon - pixels))
    l2 = jnp.mean((recon - pixels) ** 2)
    loss = l1 + l2
    if not options.decoder_only:
        loss = loss + quant["codebook"] + options.beta * quant["commit"]
    g_loss = jnp.zeros(())
    if dparams is not None:
        g_loss = -jnp.mean(parts.disc.apply({"params": dparams}, recon))
        loss = loss + disc_weight * g_loss
    aux = {"l1": l1, "l2": l2, "codebook": quant["codebook"], "commit": quant["commit"], "g_loss": g_loss}
    return loss, (aux, recon, quant)


def _restart_dead_codes(parts: _StepParts, state, params, flat, usage):
    """Re-seed the entries no batch chose since the last restart with this batch's encoder outputs."""
    import jax
    import jax.numpy as jnp

    config, options = parts.config, parts.options
    step = state["step"]
    restarts = 0 if options.decoder_only else options.restart_every
    due = (restarts > 0) & (step % max(restarts, 1) == 0)
    dead = usage == 0
    rng = jax.random.fold_in(parts.key, step)
    picks = jax.random.randint(rng, (config.n_embed,), 0, flat.shape[0])
    fresh = jax.lax.stop_gradient(flat[picks])
    table = codebook(params)
    if config.l2_codes:
        fresh = unit(fresh)
    fresh = fresh + 1e-3 * jax.random.normal(rng, fresh.shape)  # duplicates of one output drift apart
    table = jnp.where((due & dead)[:, None], fresh.astype(table.dtype), table)
    restarted = jnp.sum(due & dead)
    return with_codebook(params, table), jnp.where(due, 0, usage), restarted


def _discriminator_update(parts: _StepParts, state, pixels, recon):
    """One hinge-loss step of the discriminator on real pixels and (constant) reconstructions."""
    import jax
    import jax.numpy as jnp
    import optax

    fake = jax.lax.stop_gradient(recon)

    def hinge(dp):
        real_logits = parts.disc.apply({"params": dp}, pixels)
        fake_logits = parts.disc.apply({"params": dp}, fake)
        return jnp.mean(jax.nn.relu(1 - real_logits)) + jnp.mean(jax.nn.relu(1 + fake_logits))

    d_loss, dgrads = jax.value_and_grad(hinge)(state["disc_params"])
    dupdates, dopt = parts.dtx.update(dgrads, state["disc_opt_state"], state["disc_params"])
    return d_loss, optax.apply_updates(state["disc_params"], dupdates), dopt


def _train_step(parts: _StepParts, state, pixels, use_disc: bool):
    import functools

    import jax
    import jax.numpy as jnp
    import optax

    config, options = parts.config, parts.options
    params = state["params"]
    dparams = state.get("disc_params") if use_disc else None
    grad_fn = jax.value_and_grad(functools.partial(_generator_loss, parts), has_aux=True)
    (loss, (aux, recon, quant)), grads = grad_fn(params, dparams, pixels, options.disc_weight)
    updates, opt_state = parts.tx.update(grads, state["opt_state"], params)
    params = optax.apply_updates(params, updates)
    counts = jnp.bincount(quant["indices"], length=config.n_embed)
    # restarts look at usage up to the previous step, so that step 0 re-seeds a fresh codebook
    params, usage, restarted = _restart_dead_codes(parts, state, params, quant["flat"], state["usage"])
    new_state = {**state, "step": state["step"] + 1, "params": params, "opt_state": opt_state}
    new_state["usage"] = usage + counts.astype(jnp.int32)
    d_loss = jnp.zeros(())
    if use_disc:
        d_loss, new_state["disc_params"], new_state["disc_opt_state"] = _discriminator_update(
            parts, state, pixels, recon
        )
    mse = jnp.mean((jnp.clip(recon, 0, 1) - pixels) ** 2, axis=(1, 2, 3))
    metrics = {
        "loss": loss,
        **aux,
        "d_loss": d_loss,
        "mse": jnp.mean(mse),
        "counts": counts,
        "restarted": restarted,
        "lr": parts.schedule(state["step"]),
    }
    return new_state, metrics


# -- logging, evaluation, saving ------------------------------------------------------------------------


def psnr(mse: float) -> float:
    """Peak signal-to-noise ratio in dB for pixels in [0, 1]; inf for an exact match."""
    return math.inf if mse <= 0 else -10.0 * math.log10(mse)


def code_usage(counts: np.ndarray) -> dict[str, float]:
    """Distinct codes used, their share of the codebook, and the perplexity of the code distribution."""
    total = counts.sum()
    if total == 0:
        return {"codes_used": 0, "usage": 0.0, "perplexity": 0.0}
    p = counts[counts > 0] / total
    return {
        "codes_used": int((counts > 0).sum()),
        "usage": float((counts > 0).sum() / counts.size),
        "perplexity": float(np.exp(-(p * np.log(p)).sum())),
    }


def _log_line(run: _Run, step: int, window: list[dict], usage: np.ndarray, seconds: float) -> dict[str, Any]:
    mean = {k: float(np.mean([m[k] for m in window])) for k in window[0] if k != "restarted"}
    line = {
        "kind": "train",
        "step": step,
        "epoch": round(step / run.steps_per_epoch, 3),
        "loss": mean["loss"],
        "l1": mean["l1"],
        "l2": mean["l2"],
        "codebook": mean["codebook"],
        "commit": mean["commit"],
        "psnr": round(psnr(mean["mse"]), 3),
        **code_usage(usage),
        "restarted": int(sum(int(m["restarted"]) for m in window)),
        "lr": mean["lr"],
        "seconds": round(seconds, 2),
    }
    if run.options.disc_start is not None and step > run.options.disc_start:
        line["g_loss"], line["d_loss"] = mean["g_loss"], mean["d_loss"]
    return line


def _checkpoint(run: _Run, latest: dict, log: RunLog) -> dict[str, Any]:
    _save(run)
    evaluation = _evaluate(run, run.state["params"])
    if evaluation:
        log.write({"kind": "eval", "step": int(run.state["step"]), **evaluation})
        latest = {**latest, **{f"eval_{k}": v for k, v in evaluation.items()}}
    return latest


def _evaluate(run: _Run, params: dict) -> dict[str, Any]:
    """PSNR and code usage on the held-out images, through the inference module (as `generate` decodes)."""
    if not len(run.test):
        return {}
    errors, counts = [], np.zeros(run.config.n_embed, np.int64)
    for start in range(0, len(run.test), EVAL_BATCH):
        pixels = run.test[start : start + EVAL_BATCH].astype(np.float32) / 255.0
        recon, indices = run.fns["reconstruct"](params, pixels)
        errors.append(np.mean((np.clip(np.asarray(recon), 0, 1) - pixels) ** 2, axis=(1, 2, 3)))
        counts += np.bincount(np.asarray(indices).ravel(), minlength=run.config.n_embed)
    mse = np.concatenate(errors)
    return {"psnr": round(psnr(float(mse.mean())), 3), "images": len(mse), **code_usage(counts)}


def _save(run: _Run) -> None:
    """A checkpoint (current once whole: kill -9 safe), then the exported model at the folder's root."""
    from flax.serialization import to_bytes

    state = run.state
    files = {**vqgan_files(run.config, state["params"]), checkpoints.STATE_FILE: to_bytes(state)}
    trainer = {"trainer": KIND, "options": asdict(run.options), "config": run.config.to_dict()}
    checkpoints.write(run.out, int(state["step"]), files, trainer)
    save_vqgan(run.out, run.config, state["params"])


def _report(run: _Run, latest: dict, seconds: float) -> dict[str, Any]:
    state, start, images = run.state, run.start, run.images
    steps_done = int(state["step"]) - start
    return {
        "out": str(run.options.out),
        "steps": int(state["step"]),
        "total_steps": run.total_steps,
        "steps_this_run": steps_done,
        "resumed_from": start,
        "epochs": round(int(state["step"]) / run.steps_per_epoch, 3),
        "seconds": round(seconds, 2),
        "seconds_per_step": round(seconds / steps_done, 4) if steps_done else None,
        "batch_size": run.batch_size,
        "train_images": len(run.train),
        "test_images": len(run.test),
        "skipped_images": [str(p) for p, _ in images.skipped],
        "skipped": images.skipped_json(),
        "last": latest,
        "config": run.config.to_dict(),
        "options": asdict(run.options),
    }
