"""One reader for the files a user names: a cap, UTF-8, and one InputError line for anything else."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
from cli_checks import one_error_line
from typer.testing import CliRunner

from blogart.cli import app
from blogart.errors import InputError
from blogart.readers import Wording, decode_user_text, read_user_bytes, read_user_stream, read_user_text


def refusal(path: str | Path, max_bytes: int = 100, **kwargs) -> str:
    with pytest.raises(InputError) as info:
        read_user_text(path, what="styles file", max_bytes=max_bytes, **kwargs)
    message = str(info.value)
    assert "\n" not in message and info.value.exit_code == 2
    return message


def test_text_is_read_and_a_byte_order_mark_dropped(tmp_path):
    path = tmp_path / "styles.toml"
    path.write_bytes("\ufeffcafé = 1\n".encode())
    assert read_user_text(path, what="styles file", max_bytes=100) == "café = 1\n"


def test_exactly_the_cap_is_read_one_byte_more_is_refused(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes(b"a" * 100)
    assert len(read_user_bytes(path, what="file", max_bytes=100)) == 100
    path.write_bytes(b"a" * 101)
    assert refusal(path) == f"styles file {path} is 101 bytes, over the 100 bytes limit"


def test_missing_folder_and_unreadable_paths(tmp_path):
    assert refusal(tmp_path / "nope.toml") == f"styles file not found: {tmp_path / 'nope.toml'}"
    assert refusal(tmp_path) == f"styles file {tmp_path} is a folder, not a file"
    assert refusal("x" * 5000 + ".toml").endswith(": File name too long")
    assert refusal("~no-such-user-blogart/styles.toml").startswith("cannot read styles file ~no-such-user")


def test_a_big_file_is_refused_without_reading_it(tmp_path):
    big = tmp_path / "big.toml"
    with big.open("wb") as handle:
        handle.truncate(5_000_000_000)  # sparse: reading it would take a while
    start = time.perf_counter()
    assert refusal(big, max_bytes=1_000_000) == f"styles file {big} is 5000.0 MB, over the 1.0 MB limit"
    assert time.perf_counter() - start < 1.0


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_a_device_that_never_ends_is_read_only_to_the_cap():
    assert refusal("/dev/zero", max_bytes=1_000_000) == "styles file /dev/zero is over the 1.0 MB limit"


def test_binary_and_other_encodings_are_refused(tmp_path):
    image = tmp_path / "image.toml"
    image.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    assert refusal(image) == f"styles file {image} is binary data, not UTF-8 text"
    latin1 = tmp_path / "latin1.toml"
    latin1.write_bytes("style = 'caf\xe9'".encode("latin-1"))
    assert refusal(latin1) == (f"styles file {latin1} is not UTF-8 text (byte 0xe9 at offset 12); save it as UTF-8")


def test_a_caller_keeps_its_own_words(tmp_path):
    wording = Wording(missing="{path}: no such file", too_long="{path} is over {max_bytes} bytes")
    assert refusal(tmp_path / "nope", wording=wording) == f"{tmp_path / 'nope'}: no such file"
    with pytest.raises(InputError, match="^stdin is over 4 bytes$"):
        read_user_stream(io.BytesIO(b"12345"), what="post", name="stdin", max_bytes=4, wording=wording)
    assert read_user_stream(io.BytesIO(b"1234"), what="post", name="stdin", max_bytes=4) == b"1234"
    with pytest.raises(InputError, match="^post stdin is binary data"):
        decode_user_text(b"a\x00b", what="post", name="stdin")


@pytest.mark.parametrize(
    ("argv", "env", "needles"),
    [
        (["--config", "{bin}", "config", "show"], {}, ["config file", "binary data"]),
        (["styles"], {"BLOGART_PROMPT__STYLES_FILE": "{latin1}"}, ["styles file", "not utf-8", "0xe9"]),
    ],
)
def test_the_cli_refuses_a_bad_user_file_in_one_line(isolated_env, argv, env, needles):
    files = {"bin": isolated_env / "config.toml", "latin1": isolated_env / "styles.toml"}
    files["bin"].write_bytes(b"[llm]\x00\x01\x02")
    files["latin1"].write_bytes("[cozy]\ndescription = 'caf\xe9'\n".encode("latin-1"))
    env = {name: value.format(**files) for name, value in env.items()}
    result = CliRunner().invoke(app, [arg.format(**files) for arg in argv], env=env)
    one_error_line(result, 2, *needles)
