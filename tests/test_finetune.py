"""`blogart finetune`: data sets, the code cache, freezing, resuming, and checkpoints that generate uses.

One short training run (tiny DalleBart, the tiny VQGAN, a few drawn circles) is shared by the tests
that only read its output; the session's XLA compile cache (conftest.py) makes a rerun of the same step free.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from blogart.cli import app
from blogart.errors import InputError
from blogart.models.dalle.generation_config import write_sampling
from blogart.training.data import list_images, load_examples, split_examples

DATA = Path(__file__).parent / "data"
VQGAN = DATA / "vqgan"
POSTS = DATA / "posts"
runner = CliRunner()
COLOURS = {"red": (220, 30, 30), "blue": (30, 30, 220), "green": (30, 190, 30)}
RUN = ["--steps", "6", "--batch-size", "4", "--lr", "0.003", "--save-every", "2", "--test-fraction", "0.25"]


def draw_circles(folder: Path, count: int = 12) -> Path:
    from PIL import Image, ImageDraw

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        colour = list(COLOURS)[i % 3]
        image = Image.new("RGB", (40, 40), "white")
        x, y = (int(v) for v in rng.integers(0, 20, 2))
        ImageDraw.Draw(image).ellipse([x, y, x + 18, y + 18], fill=COLOURS[colour])
        image.save(folder / f"img{i:02d}.png")
        (folder / f"img{i:02d}.txt").write_text(f"a {colour} circle")
    return folder


# The tests that read `shared` run on one worker (xdist_group), so it is built once a session.
with_shared = pytest.mark.xdist_group("finetune-shared")


@pytest.fixture(scope="module")
def shared(tmp_path_factory, tiny_dalle):
    """A base model, a data set and one finished CLI run (6 steps)."""
    root = tmp_path_factory.mktemp("finetune")
    data = draw_circles(root / "data")
    base = shutil.copytree(tiny_dalle[0], root / "base")
    write_sampling(base, {"condition_scale": 3.0, "top_k": 4})  # as the bundled model carries them
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BLOGART_HOME", str(root / "home"))
        mp.setenv("BLOGART_GENERATE__COMPILE_CACHE", "false")  # the session's XLA cache (conftest.py)
        result = runner.invoke(
            app,
            [
                "finetune",
                str(data),
                "--model",
                str(base),
                "--vqgan",
                str(VQGAN),
                "--out",
                str(root / "out"),
                *RUN,
                "--json",
            ],
        )
    assert result.exit_code == 0, result.output
    return {"root": root, "data": data, "base": base, "out": root / "out", "report": json.loads(result.stdout)}


def _log(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


def _params(folder: Path) -> dict[str, np.ndarray]:
    from flax.serialization import msgpack_restore
    from flax.traverse_util import flatten_dict

    tree = msgpack_restore((folder / "flax_model.msgpack").read_bytes())
    return {"/".join(k): np.asarray(v) for k, v in flatten_dict(tree).items()}


# -- data sets --------------------------------------------------------------------------------------------


def test_folder_data_set_skips_bad_entries_and_says_which(tmp_path):
    from PIL import Image

    data = draw_circles(tmp_path / "data", 6)
    (data / "img01.txt").unlink()  # missing caption
    (data / "img02.txt").write_text("  \n")  # empty caption
    (data / "broken.png").write_bytes(b"not a png at all")
    (data / "broken.txt").write_text("a broken file")
    Image.new("RGB", (8, 8), "red").save(data / "tiny.png")
    (data / "tiny.txt").write_text("a tiny picture")
    shutil.copy(data / "img03.png", data / "zz-copy.png")
    (data / "zz-copy.txt").write_text("the same picture again")

    examples, report = load_examples(data)
    assert [e.name for e in examples] == ["img00.png", "img03.png", "img04.png", "img05.png"]
    assert examples[0].caption == "a red circle"
    assert report.found == 9 and report.kept == 4
    assert report.reasons() == {
        "unreadable image": 1,
        "missing caption": 1,
        "empty caption": 1,
        "tiny image": 1,
        "duplicate image": 1,
    }
    summary = report.summary()
    assert "skipped 5" in summary and "broken.png" in summary and "img01.png" in summary
    assert "same as img03.png" in next(s.reason for s in report.skipped if s.name == "zz-copy.png")
    with pytest.raises(InputError, match=r"broken\.png: unreadable image.*--strict"):
        load_examples(data, strict=True)
    paths, skipped = list_images([data])
    assert len(paths) == 9 and not skipped  # images without captions count for a VQGAN


def test_jsonl_and_csv_lists_with_relative_paths(tmp_path):
    draw_circles(tmp_path / "imgs", 3)
    rows = [{"image": f"imgs/img{i:02d}.png", "caption": f"circle {i}"} for i in range(3)]
    (tmp_path / "list.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\nnot json\n")
    examples, report = load_examples(tmp_path / "list.jsonl")
    assert [e.caption for e in examples] == ["circle 0", "circle 1", "circle 2"]
    assert report.format == "jsonl" and report.skipped[0].name == "line 4"

    lines = ["file_name,text"] + [f'imgs/img{i:02d}.png,"circle, {i}"' for i in range(3)] + ["imgs/missing.png,gone"]
    (tmp_path / "list.csv").write_text("\n".join(lines) + "\n")
    examples, report = load_examples(tmp_path / "list.csv")
    assert [e.caption for e in examples] == ["circle, 0", "circle, 1", "circle, 2"]
    assert report.skipped[0].reason == "unreadable image: file not found"

    # An unterminated quote would make one caption of every row after it: refused, naming where it opens.
    (tmp_path / "open.csv").write_text('image,caption\nimgs/img00.png,"a loaf\nimgs/img01.png,a cat\n')
    with pytest.raises(InputError, match=r"open\.csv: the quoted field from line 2 is never closed"):
        load_examples(tmp_path / "open.csv")
    (tmp_path / "bad.csv").write_text("picture;words\na.png;b\n")
    with pytest.raises(InputError, match="bad CSV .* image column"):
        load_examples(tmp_path / "bad.csv")


def test_one_image_listing_for_the_vqgan_reads_the_same_files_without_captions(tmp_path):
    draw_circles(tmp_path / "imgs", 3)
    # a CSV needs no caption column for images alone; with a header naming the image column, or none
    (tmp_path / "named.csv").write_text("file_name,score\nimgs/img00.png,1\nimgs/img01.png,2\n")
    (tmp_path / "plain.csv").write_text("imgs/img00.png\nimgs/img02.png\n")
    assert [p.name for p in list_images([tmp_path / "named.csv"])[0]] == ["img00.png", "img01.png"]
    assert [p.name for p in list_images([tmp_path / "plain.csv"])[0]] == ["img00.png", "img02.png"]
    with pytest.raises(InputError, match="caption column"):
        load_examples(tmp_path / "named.csv")  # captions are needed for fine-tuning
    # a bad JSONL row is reported like any other bad row, not dropped and not fatal
    rows = ['{"image": "imgs/img00.png"}', "{broken", '["imgs/img01.png"]', '{"caption": "no image"}']
    (tmp_path / "list.jsonl").write_text("\n".join(rows) + "\n")
    paths, skipped = list_images([tmp_path / "list.jsonl", tmp_path / "imgs" / "img02.png"])
    assert [p.name for p in paths] == ["img00.png", "img01.png", "img02.png"]
    assert [(s.name, s.reason) for s in skipped] == [
        ("list.jsonl:line 2", "bad row: not JSON"),
        ("list.jsonl:line 4", "bad row: no image path (image/file_name/file/path)"),
    ]


def test_held_out_split_is_seeded():
    from blogart.training.data import Example

    examples = [Example(f"{i}.png", Path(f"{i}.png"), "c", str(i)) for i in range(20)]
    train, test = split_examples(examples, 0.1, seed=1)
    assert len(test) == 2 and len(train) == 18 and not set(train) & set(test)
    assert split_examples(examples, 0.1, seed=1) == (train, test)
    assert split_examples(examples, 0.1, seed=2) != (train, test)
    assert split_examples(examples[:2], 0.1, seed=0)[1]  # a non-zero fraction holds out at least one


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "nowhere", "data set not found"),
        (lambda p: (p / "empty").mkdir() or p / "empty", "empty data set: no images"),
        (lambda p: (p / "bad.csv").write_text("a,b\n1,2\n") and p / "bad.csv", "bad CSV"),
        (lambda p: (p / "notes.txt").write_text("hi") and p / "notes.txt", "a data set is a folder"),
    ],
)
def test_bad_data_is_one_error_line(tmp_path, tiny_dalle, make, message):
    args = ["finetune", str(make(tmp_path)), "--model", str(tiny_dalle[0]), "--vqgan", str(VQGAN)]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: ") and message in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_strict_stops_at_the_first_bad_example(tmp_path, tiny_dalle):
    data = draw_circles(tmp_path / "data", 4)
    (data / "img02.txt").unlink()
    args = ["finetune", str(data), "--model", str(tiny_dalle[0]), "--vqgan", str(VQGAN), "--strict"]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert result.output.strip() == "error: img02.png: missing caption (--strict stops at the first problem)"


def test_flag_mistakes_are_one_error_line(tmp_path, tiny_dalle):
    data = draw_circles(tmp_path / "data", 2)
    base = ["finetune", str(data), "--vqgan", str(VQGAN), "--out", str(tmp_path / "out")]
    assert "give --model BASE" in runner.invoke(app, base).output
    result = runner.invoke(app, [*base, "--model", str(tiny_dalle[0]), "--train-tokenizer"])
    assert result.exit_code == 2 and "--train-tokenizer is for a new model" in result.output
    result = runner.invoke(app, [*base, "--model", "no-such-model"])
    assert result.exit_code == 2 and "neither a folder nor a known dallebart model" in result.output
    resume = ["finetune", str(data), "--out", str(tmp_path / "out"), "--resume"]
    result = runner.invoke(app, resume)
    assert result.exit_code == 2 and "nothing to resume" in result.output
    result = runner.invoke(app, [*resume, "--lr", "1"])
    assert result.exit_code == 2 and "drop --lr" in result.output


# -- codes ------------------------------------------------------------------------------------------------


def test_codes_are_encoded_once_then_read_from_the_cache(tmp_path, monkeypatch):
    from blogart.models.dalle import vqgan as vq
    from blogart.training.codes import image_codes

    examples, _ = load_examples(draw_circles(tmp_path / "data", 5))
    calls = []
    real = vq.encode_images

    def counting(bundle, pixels):
        calls.append(len(pixels))
        return real(bundle, pixels)

    monkeypatch.setattr(vq, "encode_images", counting)
    first = image_codes(examples, VQGAN, tmp_path / "cache", batch_size=4)
    assert first.shape == (5, 256) and first.dtype == np.int32 and calls == [4, 4]
    again = image_codes(examples, VQGAN, tmp_path / "cache", batch_size=4)
    assert calls == [4, 4]  # not called again
    np.testing.assert_array_equal(first, again)
    other_vqgan = tmp_path / "vqgan"
    shutil.copytree(VQGAN, other_vqgan)
    (other_vqgan / "config.json").write_text((VQGAN / "config.json").read_text() + "\n")
    image_codes(examples[:1], other_vqgan, tmp_path / "cache", batch_size=4)
    assert calls == [4, 4, 4]  # another VQGAN never reads these codes


# -- the shared run ---------------------------------------------------------------------------------------


@pytest.mark.slow
@with_shared
def test_loss_falls_and_the_run_is_logged(shared):
    report = shared["report"]
    assert report["steps"] == 6 and report["train_examples"] == 9 and report["test_examples"] == 3
    assert report["eval_loss"] < report["first_eval_loss"]
    log = _log(shared["out"])
    train = [r["loss"] for r in log if r["kind"] == "train"]
    assert [r["step"] for r in log if r["kind"] == "train"] == [1, 2, 3, 4, 5, 6]
    assert np.mean(train[-2:]) < train[0]
    assert [r["kind"] for r in log].count("eval") >= 2
    written = json.loads((shared["out"] / "report.json").read_text())
    assert written["eval_loss"] == report["eval_loss"] and written["data"]["kept"] == 12


@pytest.mark.slow
@with_shared
def test_checkpoint_is_a_released_format_model_that_generate_uses(shared, tmp_path):
    last = shared["out"] / "last"
    names = {p.name for p in last.iterdir()}
    assert {"config.json", "flax_model.msgpack", "vocab.json", "merges.txt", "train_state.msgpack"} <= names
    assert json.loads((last / "config.json").read_text()) == json.loads((shared["base"] / "config.json").read_text())
    assert {v.dtype for v in _params(last).values()} == {np.dtype("float32")}
    assert len(list((shared["out"] / "checkpoints").iterdir())) == 2  # the two newest are kept

    for folder in (last, shared["out"]):  # the run folder stands for its newest checkpoint
        verify = runner.invoke(app, ["models", "verify", str(folder)])
        assert verify.exit_code == 0, verify.output
        assert ": ok (dallebart" in verify.output

    run = shared["out"]
    args = ["generate", str(POSTS / "sourdough.md"), "--checkpoint", str(run), "--vqgan", str(VQGAN), "--no-rank"]
    result = runner.invoke(app, [*args, "--backend", "local", "-n", "1", "--out", str(tmp_path / "gen"), "--json"])
    assert result.exit_code == 0, result.output
    manifest = json.loads(result.stdout)
    assert Path(manifest["models"]["weights"]["checkpoint"]).resolve() == last.resolve()
    # the base model's sampling defaults travel with the fine-tune and are drawn with
    assert (last / "generation_config.json").read_bytes() == (shared["base"] / "generation_config.json").read_bytes()
    assert (manifest["settings"]["generate"]["condition_scale"], manifest["settings"]["generate"]["top_k"]) == (3.0, 4)


@pytest.mark.slow
@with_shared
def test_resumed_run_equals_the_uninterrupted_one(shared, tmp_path):
    from blogart.training.dallebart_trainer import RunConfig, Sources, finetune

    config = RunConfig(steps=6, batch_size=4, lr=0.003, save_every=2, test_fraction=0.25)
    sources = Sources(
        data=shared["data"],
        vqgan=VQGAN,
        base=shared["base"],
        cache_root=shared["root"] / "home" / "cache" / "image-codes",
    )
    out = tmp_path / "out"

    def stop_at_step_3(event):
        if event.phase == "train" and event.done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        finetune(out, sources, config, progress=stop_at_step_3)
    assert json.loads((out / "checkpoint.json").read_text())["step"] == 2
    # What a kill -9 can leave behind: a half-written checkpoint and a torn log line.
    (out / "checkpoints" / ".step-00000004.partial").mkdir()
    with (out / "log.jsonl").open("a") as f:
        f.write('{"kind": "train", "st')

    report = finetune(
        out, Sources(data=shared["data"], vqgan=Path(), cache_root=sources.cache_root), RunConfig(), resume=True
    )
    assert report.resumed_from == 2 and report.steps == 6
    uninterrupted = shared["out"] / "last"
    resumed = out / "last"
    assert (resumed / "flax_model.msgpack").read_bytes() == (uninterrupted / "flax_model.msgpack").read_bytes()
    assert (resumed / "train_state.msgpack").read_bytes() == (uninterrupted / "train_state.msgpack").read_bytes()
    assert [r["step"] for r in _log(out) if r["kind"] == "train"] == [1, 2, 3, 4, 5, 6]
    assert [r["loss"] for r in _log(out) if r["kind"] == "train"] == [
        r["loss"] for r in _log(shared["out"]) if r["kind"] == "train"
    ]
    assert not list((out / "checkpoints").glob(".*.partial"))


@pytest.mark.slow
@with_shared
def test_frozen_encoder_and_lowest_decoder_layers_do_not_change(shared, tmp_path):
    from blogart.training.dallebart_trainer import RunConfig, Sources, finetune

    config = RunConfig(
        steps=2,
        batch_size=4,
        lr=0.01,
        accumulate=2,
        freeze_encoder=True,
        freeze_decoder_layers=1,
        test_fraction=0,
        bf16=True,  # bfloat16 compute: the master weights and the saved ones stay float32
    )
    cache = shared["root"] / "home" / "cache" / "image-codes"
    report = finetune(tmp_path / "out", Sources(shared["data"], VQGAN, shared["base"], cache_root=cache), config)
    assert report.micro_steps == 4 and report.trainable_params < report.params
    assert np.isfinite(report.train_loss)
    before, after = _params(shared["base"]), _params(tmp_path / "out" / "last")
    layers = "model/decoder/layers/FlaxBartDecoderLayers/"
    for key, value in before.items():
        if key.startswith("model/encoder/"):
            np.testing.assert_array_equal(after[key], value, err_msg=key)
        elif key.startswith(layers):
            np.testing.assert_array_equal(after[key][0], value[0], err_msg=key)  # the lowest layer: frozen
    changed = [k for k in before if k.startswith(layers) and not np.array_equal(after[k][1], before[k][1])]
    assert len(changed) == len([k for k in before if k.startswith(layers)])  # the top layer: all trained
    assert not np.array_equal(after["lm_head/kernel"], before["lm_head/kernel"])
    assert {v.dtype for v in after.values()} == {np.dtype("float32")}


def test_freezing_masks_slices_of_stacked_leaves_exactly():
    """Weight decay and Adam never move a frozen slice, even with non-zero gradients everywhere."""
    import jax.numpy as jnp
    import optax

    from blogart.training.dallebart_trainer import RunConfig, build_optimizer, trainable_mask

    params = {
        "model": {
            "encoder": {"w": {"kernel": jnp.ones((2, 2))}},
            "decoder": {"layers": {"FlaxBartDecoderLayers": {"x": {"kernel": jnp.ones((3, 2, 2))}}}},
        },
        "lm_head": {"kernel": jnp.ones((2, 2))},
    }
    mask = trainable_mask(params, freeze_encoder=True, freeze_decoder_layers=2)
    optimizer, _ = build_optimizer(RunConfig(lr=0.1, warmup=0, weight_decay=0.5), 10, mask)
    state = optimizer.init(params)
    grads = {k: v for k, v in params.items()}
    updates, state = optimizer.update(grads, state, params)
    new = optax.apply_updates(params, updates)
    stacked = new["model"]["decoder"]["layers"]["FlaxBartDecoderLayers"]["x"]["kernel"]
    assert (stacked[:2] == 1).all() and (stacked[2] != 1).all()
    assert (new["model"]["encoder"]["w"]["kernel"] == 1).all()
    assert (new["lm_head"]["kernel"] != 1).all()


@pytest.mark.slow
@with_shared
def test_new_model_from_a_config_with_its_own_tokenizer(shared, tmp_path):
    from blogart.models.dalle.text import encode_texts, load_tokenizer

    config = json.loads((shared["base"] / "config.json").read_text())
    config.update(encoder_vocab_size=300, encoder_layers=1, decoder_layers=1)
    (tmp_path / "new.json").write_text(json.dumps(config))
    args = ["finetune", str(shared["data"]), "--init", str(tmp_path / "new.json"), "--train-tokenizer"]
    args += ["--vqgan", str(VQGAN), "--out", str(tmp_path / "out"), "--steps", "1", "--test-fraction", "0"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "1 steps" in result.output and "blogart generate POST --checkpoint" in result.output
    last = tmp_path / "out" / "last"
    tokenizer = load_tokenizer(last)
    ids, _ = encode_texts(tokenizer, ["a red circle"], max_length=16)
    assert ids.max() < 300 and ids[0, 0] == 0  # <s> first, as BART
    verify = runner.invoke(app, ["models", "verify", str(last)])
    assert verify.exit_code == 0, verify.output


def test_the_fine_tuner_sees_images_as_the_vqgan_trainer_does(tmp_path):
    """One pixel convention for both trainers: transparency over white, centre square, resized."""
    from PIL import Image

    from blogart.training.codes import load_pixels
    from blogart.training.images import load_image

    image = Image.new("RGBA", (48, 32), (0, 0, 0, 0))  # transparent, its colour black
    image.paste((200, 30, 30, 255), (16, 8, 32, 24))
    path = tmp_path / "icon.png"
    image.save(path)
    pixels = load_pixels(path, 16)
    assert pixels[0, 0].tolist() == [1.0, 1.0, 1.0]  # white where the icon is transparent, not black
    assert np.array_equal(pixels, load_image(path, 16).astype(np.float32) / 255.0)


@pytest.mark.slow
@with_shared
def test_kill_9_mid_run_then_resume_equals_the_uninterrupted_run(shared, tmp_path):
    """A real SIGKILL at whatever moment the run has reached, not a polite interruption."""
    import os
    import signal
    import subprocess
    import sys
    import time

    args = ["finetune", str(shared["data"]), "--model", str(shared["base"]), "--vqgan", str(VQGAN)]
    args += ["--steps", "36", "--batch-size", "4", "--lr", "0.003", "--save-every", "3", "--test-fraction", "0.25"]
    env = {**os.environ, "BLOGART_HOME": str(shared["root"] / "home")}  # the codes are cached there already
    killed = tmp_path / "killed"
    process = subprocess.Popen([sys.executable, "-m", "blogart", *args, "--out", str(killed)], env=env)
    pointer = killed / "checkpoint.json"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if pointer.is_file() and json.loads(pointer.read_text())["step"] >= 6:
            break
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL, "the run ended before it could be killed"
    assert json.loads(pointer.read_text())["step"] < 36

    # Whatever the kill interrupted, the last checkpoint is a whole model folder.
    verify = runner.invoke(app, ["models", "verify", str(killed / "last")])
    assert verify.exit_code == 0, verify.output
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BLOGART_HOME", str(shared["root"] / "home"))
        resumed = runner.invoke(app, ["finetune", str(shared["data"]), "--out", str(killed), "--resume", "--json"])
        whole = runner.invoke(app, [*args, "--out", str(tmp_path / "whole"), "--json"])
    assert resumed.exit_code == 0, resumed.output
    assert whole.exit_code == 0, whole.output
    assert json.loads(resumed.stdout)["steps"] == json.loads(whole.stdout)["steps"] == 36
    assert json.loads(resumed.stdout)["resumed_from"] >= 6
    for name in ("flax_model.msgpack", "train_state.msgpack"):
        assert (killed / "last" / name).read_bytes() == (tmp_path / "whole" / "last" / name).read_bytes(), name
