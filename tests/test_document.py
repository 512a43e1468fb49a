"""load_document: Markdown (YAML/TOML front matter), HTML, plain text, URLs, and the errors users hit."""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import socket
import threading
import time
import warnings
from pathlib import Path

import pytest

from blogart.errors import InputError, UsageError
from blogart.pipeline.document import load_document

POSTS = Path(__file__).parent / "data" / "posts"


def write(name: str, content: str | bytes) -> str:
    path = Path(name)  # tests run in tmp_path (conftest chdir)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return str(path)


def paths(doc) -> list[tuple[str, ...]]:
    return [s.heading_path for s in doc.sections]


# --- the sample posts --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fmt", "title_word", "subject"),
    [
        ("sourdough.md", "markdown", "Sourdough", "sourdough starter"),
        ("rust-async.md", "markdown", "Async Rust", "Tokio"),
        ("urban-beekeeping.md", "markdown", "Beekeeping", "honey bees"),
        ("kubernetes-autoscaling.html", "html", "Kubernetes", "Horizontal Pod Autoscaler"),
        ("tidepools.txt", "text", "Tide Pools", "sea stars"),
    ],
)
def test_sample_posts_read_as_real_posts(name, fmt, title_word, subject):
    source = str(POSTS / name)
    doc = load_document(source)
    assert doc.format == fmt
    assert doc.source == source
    assert title_word in doc.title
    assert subject in doc.text
    assert 600 <= len(doc.text.split()) <= 2000
    assert len(doc.sections) >= 5
    assert doc.content_hash == hashlib.sha256((POSTS / name).read_bytes()).hexdigest()
    assert doc.title not in doc.headings


def test_markdown_yaml_front_matter_and_structure():
    doc = load_document(str(POSTS / "sourdough.md"))
    fm = doc.front_matter
    assert fm["title"] == doc.title == "Baking Sourdough Bread at Home: From Starter to Crust"
    assert fm["tags"] == ["sourdough", "bread", "baking", "fermentation"]
    assert fm["cover"] == "/images/sourdough-loaf.jpg"
    assert fm["date"] == "2024-03-09"  # dates become ISO strings: the manifest is JSON
    assert "starter to scoring" in fm["description"]
    # The H1 repeats the front-matter title: it is not a heading of its own.
    assert paths(doc)[:3] == [
        (),
        ("Making and feeding a sourdough starter",),
        ("Making and feeding a sourdough starter", "The float test"),
    ]
    assert paths(doc)[3] == ("Mixing the dough",)  # an H2 after an H3 pops back up
    assert "crusty sourdough loaf with an open ear" in doc.text  # image alt text kept
    assert "feed starter" not in doc.text  # fenced code kept out of the prose
    assert "24 °C | 5 to 6 hours" in doc.text  # table rows as text
    assert "Mix the flour and most of the water" in doc.text  # list items kept
    intro = doc.sections[0].text
    assert intro.count("\n\n") >= 2  # paragraphs stay separate for the chunker


def test_markdown_toml_front_matter_and_code_left_out():
    doc = load_document(str(POSTS / "rust-async.md"))
    assert doc.title == "Async Rust Without the Mystery: Futures, Executors and Tokio"
    assert doc.front_matter["extra"] == {"image": "covers/async-rust.png", "reading_time": 9}
    assert doc.front_matter["draft"] is False
    assert doc.front_matter["date"].startswith("2024-05-21T10:00:00")
    assert "parse_title(&body)" not in doc.text
    assert "an async fn does not run" in doc.text  # inline code kept as text
    assert ("Executors and runtimes", "The Tokio main macro") in paths(doc)


def test_markdown_title_from_h1_links_and_other_h1s():
    source = write(
        "post.md",
        "# The Real Title\n\nIntro with a [link text](https://x.example) and *emphasis*.\n\n"
        "## Part one\n\nOne.\n\n### Deeper\n\nDeep.\n\n# Appendix\n\nMore.\n\n<!-- hidden note -->\n\n"
        "<div>Raw <b>html</b> block</div>\n",
    )
    doc = load_document(source)
    assert doc.title == "The Real Title"
    assert doc.front_matter == {}
    assert paths(doc) == [(), ("Part one",), ("Part one", "Deeper"), ("Appendix",)]
    assert doc.sections[0].text == "Intro with a link text and emphasis."
    assert "hidden note" not in doc.text
    assert "Raw html block" in doc.text
    assert doc.outline == "The Real Title\n- Part one\n  - Deeper\n- Appendix"


def test_markdown_front_matter_title_and_different_h1():
    source = write("post.md", "---\ntitle: From front matter\n---\n# Not the same\n\nBody text here.\n")
    doc = load_document(source)
    assert doc.title == "From front matter"
    assert paths(doc) == [("Not the same",)]


def test_markdown_without_any_title_uses_the_file_name():
    doc = load_document(write("my-first-post.md", "Just a paragraph about gardening.\n"))
    assert doc.title == "My first post"
    assert paths(doc) == [()]


def test_html_main_content_only():
    doc = load_document(str(POSTS / "kubernetes-autoscaling.html"))
    assert doc.title == "Kubernetes Autoscaling in Practice: HPA, VPA and Cluster Autoscaler"
    assert doc.front_matter["tags"] == ["kubernetes", "autoscaling", "devops"]
    assert doc.front_matter["image"].endswith("k8s-autoscaling.png")
    assert "Horizontal Pod Autoscaler" in doc.front_matter["description"]
    for junk in ("Archive", "About the author", "Share on Twitter", "KEDA", "Subscribe", "All rights reserved",
                 "dataLayer", "font-family", "Grafana screenshot", "Priya Raman", "stabilizationWindowSeconds",
                 "Related posts", "Skip to content"):  # fmt: skip
        assert junk not in doc.text, junk
    assert "Diagram of the three layers" in doc.text  # img alt
    assert "The three autoscalers act on pods" in doc.text  # figcaption
    assert paths(doc)[:3] == [
        (),
        ("The Horizontal Pod Autoscaler",),
        ("The Horizontal Pod Autoscaler", "Scaling behaviour and flapping"),
    ]
    assert "Right-sized requests from VPA | 31 percent fewer nodes" in doc.text


def test_html_without_article_uses_the_biggest_text_container():
    page = (
        "<html><head><title>Fallback title</title></head><body>"
        "<div class='menu'><p>Home</p><p>Contact</p></div>"
        "<div class='content'><h2>Growing tomatoes</h2><p>Tomatoes need sun and warmth all summer long.</p>"
        "<p>Water them deeply twice a week and feed them with compost.</p></div>"
        "<div><p>Tiny footer text</p></div></body></html>"
    )
    doc = load_document(write("page.html", page))
    assert doc.title == "Fallback title"
    assert paths(doc) == [("Growing tomatoes",)]
    assert "Tomatoes need sun" in doc.text and "compost" in doc.text
    assert "Contact" not in doc.text and "Tiny footer" not in doc.text


def test_html_doctype_and_head_are_not_body_text():
    # No <body>, no <div>: the whole page is the container, and its doctype and <head> must not leak in.
    page = "<!DOCTYPE html><html><head><title>Herons</title></head><h2>Wading</h2><p>Herons stand still.</p></html>"
    doc = load_document(write("bare.html", page))
    assert doc.title == "Herons"
    assert [(s.heading_path, s.text) for s in doc.sections] == [(("Wading",), "Herons stand still.")]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # bs4's "XML parsed as HTML" warning would reach the user's terminal
        doc = load_document(write("tiny.xhtml", '<?xml version="1.0"?><!doctype html><p>Just this.</p>'))
    assert doc.text == "Just this."


def test_html_title_from_h1_when_no_meta(tmp_path):
    page = "<html><body><main><h1>Main heading</h1><p>Body of the post.</p></main></body></html>"
    doc = load_document(write("p.htm", page))
    assert doc.title == "Main heading"
    assert paths(doc) == [()]


def test_plain_text_title_and_headings():
    doc = load_document(str(POSTS / "tidepools.txt"))
    assert doc.title == "Exploring Tide Pools at Low Tide"
    assert paths(doc) == [
        (),
        ("Reading a tide table",),
        ("The zones of the rocky shore",),
        ("Life in a tide pool",),
        ("How to explore tide pools without harming them",),
        ("Staying safe on the shore",),
    ]
    # Hard-wrapped lines are joined inside a paragraph.
    assert "Twice a day the ocean pulls back from the rocky shore and leaves behind" in doc.text


def test_formats_by_extension_and_sniffing():
    assert load_document(write("notes", "# Heading\n\nText.\n")).format == "markdown"
    assert load_document(write("page", "<!DOCTYPE html><html><body><p>Hi there.</p></body></html>")).format == "html"
    assert load_document(write("notes.rst", "Some words.\n\nMore words.\n")).format == "text"
    doc = load_document(write("plain.txt", "Just one paragraph, nothing more.\n"))
    assert (doc.format, paths(doc), doc.title) == ("text", [()], "Plain")


def test_bom_and_crlf_are_accepted():
    doc = load_document(
        write("win.md", "\ufeff---\r\ntitle: Windows\r\n---\r\n\r\nLine one.\r\n\r\nLine two.\r\n".encode())
    )
    assert doc.title == "Windows"
    assert doc.sections[0].text == "Line one.\n\nLine two."


# --- errors ------------------------------------------------------------------------------------


def error_for(source: str, **kwargs) -> str:
    with pytest.raises(InputError) as info:
        load_document(source, **kwargs)
    message = str(info.value)
    assert "\n" not in message and message
    assert isinstance(info.value, UsageError) and info.value.exit_code == 2
    return message


def test_missing_file_and_directory(tmp_path):
    assert "no such file" in error_for("nope.md")
    (tmp_path / "posts").mkdir()
    assert "directory" in error_for("posts")
    assert "File name too long" in error_for("x" * 5000 + ".md")
    assert "cannot read" in error_for("~no-such-user-blogart/post.md")


@pytest.mark.parametrize("content", ["", "   \n\n\t  \n"])
def test_empty_file(content):
    assert "empty" in error_for(write("empty.md", content))


def test_front_matter_only_and_empty_html():
    assert "no body text" in error_for(write("fm.md", "---\ntitle: Only this\n---\n\n"))
    assert "no body text" in error_for(write("fm.md", "+++\ntitle = 'x'\n+++\n"))
    assert "no body text" in error_for(write("e.html", "<html><body><nav>Menu</nav><script>x()</script></body></html>"))


def test_binary_and_non_utf8():
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))
    assert "binary" in error_for(write("image.md", png))
    message = error_for(write("latin1.txt", "Caf\xe9 au lait.".encode("latin-1")))
    assert "not UTF-8" in message and "0xe9" in message


def test_file_over_the_size_cap_is_refused_quickly():
    big = Path("big.md")
    with big.open("wb") as handle:
        handle.truncate(5 * 1024 * 1024)  # sparse: the check must not need to read it
    start = time.perf_counter()
    message = error_for(str(big))
    assert "5.2 MB" in message and "2.0 MB limit" in message
    assert time.perf_counter() - start < 1.0
    assert "limit" in error_for(write("small.md", "word " * 100), max_bytes=100)


def test_broken_yaml_front_matter_names_the_line():
    source = write("bad.md", "---\ntitle: ok\ntags: [a, b\ndate: 2024-01-01\n---\n\nBody.\n")
    message = error_for(source)
    assert "YAML front matter" in message and "line " in message
    source = write("bad2.md", "---\ntitle: ok\n  bad: indent: here\n---\n\nBody.\n")
    assert "at line 3" in error_for(source)


def test_broken_toml_front_matter_names_the_line():
    message = error_for(write("bad.md", '+++\ntitle = "ok"\ntags = [1, \n+++\n\nBody.\n'))
    assert "TOML front matter" in message and "line" in message
    message = error_for(write("bad2.md", '+++\ntitle = "ok"\nnot toml at all\n+++\n\nBody.\n'))
    assert "at line 3" in message


def test_unclosed_and_non_mapping_front_matter():
    assert "never closed" in error_for(write("open.md", "---\ntitle: x\n\nBody without the closing fence.\n"))
    assert "key: value" in error_for(write("list.md", "---\n- a\n- b\n---\n\nBody.\n"))


# --- URLs --------------------------------------------------------------------------------------

PAGE = (
    b"<html><head><meta property='og:title' content='Served post'></head><body><nav>Menu</nav>"
    b"<article><p>Content about lighthouses and their keepers.</p></article></body></html>"
)


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep test output quiet
        pass

    def _send(self, status: int, content_type: str | None, body: bytes, length: int | None = None) -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        if length is not None:
            self.send_header("Content-Length", str(length))
        self.end_headers()
        # A client that timed out on purpose has gone: its broken pipe must not print into a later test.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)

    def do_GET(self):  # noqa: N802 (http.server's name)
        routes = {
            "/post.html": ("text/html; charset=utf-8", PAGE),
            "/post.md": ("text/markdown", b"# Markdown post\n\nAbout *lighthouses*.\n"),
            "/raw/post.md": ("text/plain; charset=utf-8", b"# Raw post\n\n## Part\n\nText.\n"),
            "/notes": ("text/plain", b"Plain notes about lighthouses.\n"),
            "/photo.png": ("image/png", b"\x89PNG\r\n"),
            "/bare": (None, b"<!doctype html><html><body><p>Sniffed.</p></body></html>"),
        }
        if self.path in routes:
            content_type, body = routes[self.path]
            self._send(200, content_type, body, len(body))
        elif self.path == "/declared-big":
            self._send(200, "text/html", b"<p>x</p>", length=50_000_000)
        elif self.path == "/streamed-big":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()  # no length: HTTP/1.0 body ends when the connection closes
            try:
                for _ in range(100):
                    self.wfile.write(b"word " * 2000)
            except OSError:
                pass  # the client gave up, as it should
        elif self.path == "/slow":
            time.sleep(3)
            self._send(200, "text/plain", b"late", 4)
        else:
            self._send(404, "text/plain", b"not found", 9)


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_url_html_markdown_and_text(server):
    doc = load_document(f"{server}/post.html")
    assert (doc.format, doc.title, doc.source) == ("html", "Served post", f"{server}/post.html")
    assert doc.text == "Content about lighthouses and their keepers."
    assert doc.content_hash == hashlib.sha256(PAGE).hexdigest()
    doc = load_document(f"{server}/post.md")
    assert (doc.format, doc.title, doc.text) == ("markdown", "Markdown post", "About lighthouses.")
    doc = load_document(f"{server}/raw/post.md")
    assert (doc.format, doc.title, paths(doc)) == ("markdown", "Raw post", [("Part",)])
    doc = load_document(f"{server}/notes")
    assert (doc.format, doc.title) == ("text", "Notes")
    assert load_document(f"{server}/bare").format == "html"


def test_url_errors(server):
    assert "serves image/png" in error_for(f"{server}/photo.png")
    assert "HTTP 404" in error_for(f"{server}/missing")
    assert "50.0 MB is over" in error_for(f"{server}/declared-big")
    assert "over the 0.1 MB limit" in error_for(f"{server}/streamed-big", max_bytes=100_000)
    start = time.perf_counter()
    assert "timed out after 0.5s" in error_for(f"{server}/slow", timeout=0.5)
    assert time.perf_counter() - start < 2.5


def test_url_refused_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens there now.
    assert "cannot reach the server" in error_for(f"http://127.0.0.1:{port}/post.html", timeout=2)
