"""Model lookup (explicit path, HF cache layout), pull (offline, failing and working hub), verify, and the CLI."""

from __future__ import annotations

import ast
import hashlib
import json
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from blogart import modelhub
from blogart.errors import BlogartError, MissingWeights, UsageError
from blogart.models.dalle import verify
from blogart.models.dalle.checkpoint import compare_trees, read_msgpack_tree

DATA = Path(__file__).parent / "data"
TOKENIZER_FILES = {
    "vocab.json": '{"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "a": 4}',
    "merges.txt": "#version: 0.2\n",
}


def _vqgan_folder(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "flax_model.msgpack"):
        shutil.copyfile(DATA / "vqgan" / name, folder / name)
    return folder


def _dallebart_folder(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "flax_model.msgpack"):
        shutil.copyfile(DATA / "dallebart" / name, folder / name)
    for name, text in TOKENIZER_FILES.items():
        (folder / name).write_text(text)
    return folder


def _hf_cache_snapshot(cache: Path, repo_id: str, revision: str, ref: str | None = "main") -> Path:
    """The layout huggingface_hub writes: models--org--name/{refs/main, snapshots/<rev>/...}."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / revision
    snapshot.mkdir(parents=True)
    if ref:
        (repo / "refs").mkdir()
        (repo / "refs" / ref).write_text(revision)
    return snapshot


@pytest.fixture
def hf_cache(tmp_path) -> Path:
    # conftest points HF_HOME at tmp_path / "hf-home"
    return tmp_path / "hf-home" / "hub"


# -- find -----------------------------------------------------------------------------------------------------


def test_cache_dir_follows_the_environment(tmp_path, monkeypatch, hf_cache):
    assert modelhub.hf_cache_dir() == hf_cache
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "elsewhere"))
    assert modelhub.hf_cache_dir() == tmp_path / "elsewhere"
    assert modelhub.hf_cache_dir(tmp_path / "given") == tmp_path / "given"


def test_find_explicit_folder_and_file(tmp_path):
    folder = _vqgan_folder(tmp_path / "my-vqgan")
    assert modelhub.find("vqgan", explicit=folder) == folder
    assert modelhub.find("vqgan", explicit=str(folder / "flax_model.msgpack")) == folder / "flax_model.msgpack"


def test_find_explicit_path_problems_are_clear(tmp_path):
    with pytest.raises(MissingWeights, match="does not exist"):
        modelhub.find("vqgan", explicit=tmp_path / "nope")
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "config.json").write_text("{}")
    with pytest.raises(MissingWeights, match="lacks flax_model.msgpack"):
        modelhub.find("vqgan", explicit=tmp_path / "half")


def test_find_in_hf_cache_via_refs_main(hf_cache):
    model = modelhub.KNOWN["dalle-mini"]  # pinned to "main": resolved through refs/main
    snapshot = _dallebart_folder(_hf_cache_snapshot(hf_cache, model.repo_id, "c" * 40))
    assert modelhub.find("dalle-mini") == snapshot


def test_find_in_hf_cache_at_the_pinned_commit(hf_cache):
    model = modelhub.KNOWN["vqgan"]
    _vqgan_folder(_hf_cache_snapshot(hf_cache, model.repo_id, "b" * 40))  # an older snapshot...
    pinned = _vqgan_folder(_hf_cache_snapshot(hf_cache, model.repo_id, model.revision, ref=None))
    assert modelhub.find("vqgan") == pinned  # ...loses to the pinned revision


def test_find_accepts_another_complete_snapshot(hf_cache):
    model = modelhub.KNOWN["vqgan"]
    other = _vqgan_folder(_hf_cache_snapshot(hf_cache, model.repo_id, "d" * 40, ref=None))
    assert modelhub.find("vqgan") == other


def test_incomplete_snapshot_is_not_installed(hf_cache):
    model = modelhub.KNOWN["vqgan"]
    snapshot = _hf_cache_snapshot(hf_cache, model.repo_id, model.revision)
    (snapshot / "config.json").write_text("{}")  # an interrupted pull: no weights yet
    with pytest.raises(MissingWeights, match=r"run `blogart models pull vqgan`"):
        modelhub.find("vqgan")


def test_missing_model_names_the_pull_command(hf_cache):
    with pytest.raises(MissingWeights) as err:
        modelhub.find("dalle-mega")
    message = str(err.value)
    assert "dalle-mini/dalle-mega" in message and str(hf_cache) in message
    assert message.endswith("run `blogart models pull dalle-mega`") and "\n" not in message


def test_unknown_name_is_a_usage_error():
    with pytest.raises(UsageError, match="known models: dalle-mini, dalle-mega, vqgan, clip"):
        modelhub.find("dalle-giga")


def test_installed_lists_sources_and_sizes(tmp_path, hf_cache):
    model = modelhub.KNOWN["vqgan"]
    _vqgan_folder(_hf_cache_snapshot(hf_cache, model.repo_id, model.revision))
    clip = tmp_path / "clip"
    clip.mkdir()
    (clip / "open_clip_config.json").write_text("{}")
    (clip / "open_clip_model.safetensors").write_bytes(b"x" * 100)
    found = {m.name: m for m in modelhub.installed({"clip": str(clip)})}
    assert set(found) == {"vqgan", "clip"}
    assert found["vqgan"].source == "hf-cache" and found["clip"].source == "explicit"
    expected = sum((DATA / "vqgan" / n).stat().st_size for n in ("config.json", "flax_model.msgpack"))
    assert found["vqgan"].size_bytes == expected
    assert found["clip"].size_bytes == 102


def test_size_counts_a_shared_blob_once(tmp_path):
    blob = tmp_path / "blobs" / "abc"
    blob.parent.mkdir()
    blob.write_bytes(b"x" * 1000)
    snap = tmp_path / "snap"
    snap.mkdir()
    (snap / "a").symlink_to(blob)
    (snap / "b").symlink_to(blob)
    assert modelhub.folder_size(snap) == 1000


# -- pull -----------------------------------------------------------------------------------------------------


def test_pull_offline_is_a_clean_error(hf_cache):
    with pytest.raises(BlogartError) as err:
        modelhub.pull("vqgan")
    assert "offline" in str(err.value) and "\n" not in str(err.value)


def test_pull_offline_returns_what_is_already_cached(hf_cache):
    model = modelhub.KNOWN["vqgan"]
    snapshot = _vqgan_folder(_hf_cache_snapshot(hf_cache, model.repo_id, model.revision))
    assert modelhub.pull("vqgan") == snapshot


class FakeHub:
    """A few endpoints of the Hugging Face hub, enough for snapshot_download, on 127.0.0.1."""

    def __init__(self, files: dict[str, bytes], commit: str):
        self.files, self.commit, self.requests = files, commit, []
        self.missing_repo = False
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_HEAD(self):
                self._answer(head=True)

            def do_GET(self):
                self._answer(head=False)

            def _answer(self, head: bool):
                path = self.path.split("?")[0]
                hub.requests.append((self.command, path))
                if hub.missing_repo:
                    return self._send(404, b'{"error": "Repository not found"}', {"X-Error-Code": "RepoNotFound"}, head)
                if "/tree/" in path:
                    items = [
                        {"type": "file", "path": k, "size": len(v), "oid": hashlib.sha1(v).hexdigest()}
                        for k, v in hub.files.items()
                    ]
                    return self._send(200, json.dumps(items).encode(), {"Content-Type": "application/json"}, head)
                if path.startswith("/api/models/"):
                    info = {"sha": hub.commit, "siblings": [{"rfilename": k} for k in hub.files]}
                    return self._send(200, json.dumps(info).encode(), {"Content-Type": "application/json"}, head)
                if "/resolve/" in path:
                    body = hub.files[path.split("/resolve/")[1].split("/", 1)[1]]
                    etag = {"ETag": f'"{hashlib.sha1(body).hexdigest()}"', "X-Repo-Commit": hub.commit}
                    return self._send(200, body, etag, head)
                self._send(404, b"{}", {}, head)

            def _send(self, status, body, headers, head):
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if not head:
                    self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"


@pytest.fixture
def online(monkeypatch):
    """Undo conftest's offline mode, also in huggingface_hub's constant read at its import."""
    from huggingface_hub import constants

    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)


@pytest.fixture
def fake_hub(online):
    files = {name: (DATA / "vqgan" / name).read_bytes() for name in ("config.json", "flax_model.msgpack")}
    files["pytorch_model.bin"] = b"not wanted"
    hub = FakeHub(files, modelhub.KNOWN["vqgan"].revision)
    yield hub
    hub.server.shutdown()


def test_pull_downloads_only_the_needed_files_into_the_cache(fake_hub, hf_cache):
    path = modelhub.pull("vqgan", endpoint=fake_hub.url)
    model = modelhub.KNOWN["vqgan"]
    assert path == hf_cache / f"models--dalle-mini--vqgan_imagenet_f16_16384/snapshots/{model.revision}"
    assert sorted(p.name for p in path.iterdir()) == ["config.json", "flax_model.msgpack"]
    assert not any("pytorch_model.bin" in p for _, p in fake_hub.requests)
    assert modelhub.find("vqgan") == path
    # a second pull finds everything in place and fetches no file again
    before = sum(1 for method, p in fake_hub.requests if method == "GET" and "/resolve/" in p)
    assert modelhub.pull("vqgan", endpoint=fake_hub.url) == path
    assert sum(1 for method, p in fake_hub.requests if method == "GET" and "/resolve/" in p) == before


def test_pull_of_an_unreachable_repo_is_one_clear_line(fake_hub):
    fake_hub.missing_repo = True
    with pytest.raises(BlogartError) as err:
        modelhub.pull("vqgan", endpoint=fake_hub.url)
    message = str(err.value)
    assert message.startswith("cannot pull vqgan (dalle-mini/vqgan_imagenet_f16_16384@e93a26e77076)")
    assert "\n" not in message


# -- verify ---------------------------------------------------------------------------------------------------


def _write_msgpack(path: Path, tree: dict) -> None:
    from flax.serialization import msgpack_serialize

    path.write_bytes(msgpack_serialize(tree))


def _load_msgpack(path: Path) -> dict:
    from flax.serialization import msgpack_restore

    return msgpack_restore(path.read_bytes())


def test_read_msgpack_tree_matches_flax(tmp_path):
    from flax.traverse_util import flatten_dict

    path = DATA / "dallebart" / "flax_model.msgpack"
    full = flatten_dict(_load_msgpack(path), sep="/")
    assert read_msgpack_tree(path) == {k: (v.shape, v.dtype.name) for k, v in full.items()}


def test_read_msgpack_tree_handles_chunked_arrays(tmp_path, monkeypatch):
    import flax.serialization

    monkeypatch.setattr(flax.serialization, "MAX_CHUNK_SIZE", 64)  # force flax to split this array
    _write_msgpack(tmp_path / "m.msgpack", {"a": {"k": np.zeros((5, 7), np.float16)}, "b": np.ones(3, np.float32)})
    assert b"__msgpack_chunked_array__" in (tmp_path / "m.msgpack").read_bytes()
    assert read_msgpack_tree(tmp_path / "m.msgpack") == {"a/k": ((5, 7), "float16"), "b": ((3,), "float32")}


def test_compare_trees_names_each_kind_of_problem():
    expected = {"a/k": ((2, 3), "float32"), "a/b": ((3,), "float32"), "c": ((4,), "float32")}
    actual = {"a/k": ((3, 2), "float32"), "a/b": ((3,), "float16"), "d": ((1,), "float32")}
    diff = compare_trees(actual, expected)
    assert diff.problems() == [
        "missing tensor: c",
        "unexpected tensor: d",
        "wrong shape: a/k: 3x2 where the config implies 2x3",
    ]
    assert diff.other_dtype == ("a/b is float16",)  # loading casts: a note, not a problem
    assert compare_trees(expected, expected).problems() == []


def test_compare_trees_caps_long_lists():
    expected = {f"t{i}": ((1,), "float32") for i in range(20)}
    problems = compare_trees({}, expected).problems(listed=verify.MAX_LISTED)
    assert len(problems) == verify.MAX_LISTED + 1 and problems[-1] == "... and 12 more (missing tensor)"
    assert len(compare_trees({}, expected).problems()) == 20


def _broken_vqgan(folder: Path, change) -> Path:
    """The small VQGAN with its tree edited by `change(tree)`."""
    _vqgan_folder(folder)
    tree = _load_msgpack(folder / "flax_model.msgpack")
    change(tree)
    _write_msgpack(folder / "flax_model.msgpack", tree)
    return folder


def _drop_leaf(tree):
    del tree["quant_conv"]["bias"]


def _shrink_leaf(tree):
    tree["quant_conv"]["bias"] = tree["quant_conv"]["bias"][:8]


def _add_leaf(tree):
    tree["quant_conv"]["extra"] = np.zeros(2, np.float32)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (_drop_leaf, "missing tensor: quant_conv/bias"),
        (_shrink_leaf, "wrong shape: quant_conv/bias: 8 where the config implies 16"),
        (_add_leaf, "unexpected tensor: quant_conv/extra"),
    ],
)
def test_verify_and_loading_share_one_tree_comparison(tmp_path, change, problem):
    from blogart.models.dalle.vqgan import load_vqgan

    folder = _broken_vqgan(tmp_path / "vq", change)
    report = verify.verify(folder)
    assert report.problems == (problem,) and report.tensors == 155
    with pytest.raises(BlogartError) as err:
        load_vqgan(folder)
    assert str(err.value) == f"VQGAN weights in {folder} does not match its config: {problem}"


def test_modelhub_imports_nothing_from_the_model_code():
    # modelhub sits below the models: the dalle package imports it, never the other way round.
    source = Path(modelhub.__file__).read_text()
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module or "")
            imported.update(f"{node.module}.{alias.name}" for alias in node.names)
    assert "importlib" not in imported  # no import built from strings where this check cannot see it
    assert not [name for name in imported if name.startswith(("blogart.generators", "blogart.models"))]


def test_verify_good_checkpoints(tmp_path):
    dalle = verify.verify(_dallebart_folder(tmp_path / "dalle"))
    assert dalle.ok and dalle.kind == "dallebart" and dalle.tensors == 42, dalle.problems
    vqgan = verify.verify(_vqgan_folder(tmp_path / "vq"))
    assert vqgan.ok and vqgan.kind == "vqgan" and vqgan.tensors == 155, vqgan.problems


def test_verify_broken_dallebart_tree(tmp_path):
    folder = _dallebart_folder(tmp_path / "dalle")
    tree = _load_msgpack(folder / "flax_model.msgpack")
    del tree["lm_head"]
    embed = tree["model"]["decoder"]["embed_positions"]
    embed["embedding"] = embed["embedding"][:8]
    _write_msgpack(folder / "flax_model.msgpack", tree)
    report = verify.verify(folder)
    assert not report.ok
    assert report.problems == (
        "missing tensor: lm_head/kernel",
        "wrong shape: model/decoder/embed_positions/embedding: 8x64 where the config implies 16x64",
    )


def test_verify_config_that_does_not_match_the_weights(tmp_path):
    folder = _vqgan_folder(tmp_path / "vq")
    config = json.loads((folder / "config.json").read_text())
    config["n_embed"] = 128
    (folder / "config.json").write_text(json.dumps(config))
    report = verify.verify(folder)
    assert report.problems == ("wrong shape: quantize/embedding/embedding: 64x16 where the config implies 128x16",)


def test_verify_missing_files_and_truncated_weights(tmp_path):
    folder = _dallebart_folder(tmp_path / "dalle")
    (folder / "merges.txt").unlink()
    data = (folder / "flax_model.msgpack").read_bytes()
    (folder / "flax_model.msgpack").write_bytes(data[: len(data) // 2])  # an interrupted copy
    report = verify.verify(folder)
    assert report.problems[0] == "missing merges.txt"
    assert report.problems[1].startswith("flax_model.msgpack is not a readable Flax checkpoint")


def test_verify_a_config_that_is_not_a_json_object(tmp_path):
    (tmp_path / "config.json").write_text("[1, 2]")
    assert verify.detect_kind(tmp_path) == "unknown"
    assert verify.verify(tmp_path).problems == ("config.json is not a JSON object",)


def test_verify_accepts_a_vqgan_wrapped_in_params_as_loading_does(tmp_path):
    from blogart.models.dalle.vqgan import load_vqgan

    folder = _vqgan_folder(tmp_path / "vq")
    _write_msgpack(folder / "flax_model.msgpack", {"params": _load_msgpack(folder / "flax_model.msgpack")})
    report = verify.verify(folder)
    assert report.ok and report.tensors == 155, report.problems
    assert load_vqgan(folder).params.keys() == {"encoder", "decoder", "quantize", "quant_conv", "post_quant_conv"}


def test_verify_by_name_and_not_a_model_folder(tmp_path, hf_cache):
    model = modelhub.KNOWN["vqgan"]
    _vqgan_folder(_hf_cache_snapshot(hf_cache, model.repo_id, model.revision))
    assert verify.verify("vqgan").ok
    with pytest.raises(MissingWeights):
        verify.verify("dalle-mini")
    assert verify.verify(tmp_path).problems == ("no config.json or open_clip_config.json: not a model folder",)
    with pytest.raises(UsageError):
        verify.verify(tmp_path / "nothing-here")


# -- CLI ------------------------------------------------------------------------------------------------------


@pytest.fixture
def cli():
    from typer.testing import CliRunner

    from blogart.cli import app

    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args))


def test_cli_list_json_and_table(cli, tmp_path, hf_cache, monkeypatch):
    model = modelhub.KNOWN["vqgan"]
    snapshot = _vqgan_folder(_hf_cache_snapshot(hf_cache, model.repo_id, model.revision))
    dalle = _dallebart_folder(tmp_path / "mini")
    monkeypatch.setenv("BLOGART_MODELS__DALLE_MINI", str(dalle))
    result = cli("models", "list", "--json")
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.output)}
    assert set(rows) == {*modelhub.KNOWN, "bundled"}  # conftest hides the packaged one: not installed
    assert not rows["bundled"]["installed"]
    assert rows["vqgan"]["installed"] and rows["vqgan"]["path"] == str(snapshot)
    assert rows["dalle-mini"]["source"] == "explicit" and rows["dalle-mini"]["path"] == str(dalle)
    assert not rows["dalle-mega"]["installed"] and rows["dalle-mega"]["size_bytes"] is None
    table = cli("models", "list")
    assert table.exit_code == 0 and "vqgan" in table.output and "yes" in table.output


def test_cli_path(cli, hf_cache):
    model = modelhub.KNOWN["vqgan"]
    snapshot = _vqgan_folder(_hf_cache_snapshot(hf_cache, model.repo_id, model.revision))
    result = cli("models", "path", "vqgan")
    assert result.exit_code == 0 and result.output.strip() == str(snapshot)
    missing = cli("models", "path", "clip")
    assert missing.exit_code == 1
    assert "run `blogart models pull clip`" in missing.output


def test_cli_pull_offline(cli):
    result = cli("models", "pull", "dalle-mini")
    assert result.exit_code == 1 and "error: cannot pull dalle-mini: offline mode" in result.output
    assert cli("models", "pull", "nope").exit_code == 2


def test_cli_verify(cli, tmp_path):
    good = _vqgan_folder(tmp_path / "vq")
    result = cli("models", "verify", str(good))
    assert result.exit_code == 0 and ": ok (vqgan" in result.output and "155 tensors" in result.output
    (good / "flax_model.msgpack").unlink()
    broken = cli("models", "verify", str(good), "--json")
    assert broken.exit_code == 1
    assert json.loads(broken.output)[0]["problems"] == ["missing flax_model.msgpack"]
    assert "no model is installed" in cli("models", "verify").output
