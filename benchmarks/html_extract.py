"""How well each HTML reader finds the article on real-world-style pages (tests/data/html_wild).

Each page NAME.html comes with NAME.json: the article's title, its headings, its text (paragraphs,
list items and quotes; no code) and `boilerplate`, snippets of page furniture the article never says
(cookie banners, comments, related posts, sidebars, share bars, newsletter boxes, footers).

Readers compared: `bs4`, the hand-written BeautifulSoup walk, and `trafilatura`, trafilatura's
main-content extractor read into the same sections, and `blogart`, what `load_document` uses (trafilatura,
with the walk for pages under 250 characters of article text) (blogart.pipeline.document). Per reader:
- `token_f1`: F1 of the extracted text's words (headings and paragraphs, as `Document.text` holds
  them) against the expected text's (multisets, lowercase),
  and its `precision` (how much of what was read is the article) and `recall` (how much of the
  article was read); means over pages.
- `title_exact`: pages whose title is the expected one (whitespace and case aside).
- `boilerplate_leaked`: furniture snippets found in the extracted text, summed over pages;
  `pages_with_leaks`: pages with at least one.
- `heading_recall`: share of the expected headings that are headings of the extracted sections.
- `ms_per_page`: median time to read one page (parsing included, imports excluded).

    .venv/bin/python benchmarks/html_extract.py --json
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = ROOT / "tests" / "data" / "html_wild"


def words(text: str) -> Counter:
    return Counter(re.findall(r"\w+", text.casefold()))


def token_scores(got: str, expected: str) -> tuple[float, float, float]:
    a, b = words(got), words(expected)
    common = sum((a & b).values())
    precision = common / max(1, sum(a.values()))
    recall = common / max(1, sum(b.values()))
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def same(a: str, b: str) -> bool:
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


def readers() -> dict:
    sys.path.insert(0, str(ROOT / "src"))
    from blogart.pipeline import html_article, html_walk

    return {
        "bs4": html_walk.parse_html_bs4,
        "trafilatura": html_article.parse_html_trafilatura,
        "blogart": html_article.parse_html,  # what load_document uses: trafilatura, the walk for small pages
    }


def score_page(read, html: str, expected: dict, repeats: int) -> dict:
    from blogart.pipeline.sections import plain_text

    times = []
    for _ in range(repeats):
        clock = time.perf_counter()
        title, _, sections = read(html)
        times.append(time.perf_counter() - clock)
    body = plain_text(sections)  # headings and text, as the post's text is kept
    headings = {h for s in sections for h in s.heading_path}
    precision, recall, f1 = token_scores(body, expected["text"])
    leaked = [b for b in expected["boilerplate"] if b.casefold() in (title + "\n" + body).casefold()]
    found = sum(1 for h in expected["headings"] if any(same(h, got) for got in headings))
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "title_exact": same(title, expected["title"]),
        "title": title,
        "leaked": leaked,
        "heading_recall": found / max(1, len(expected["headings"])),
        "seconds": statistics.median(times),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--repeats", type=int, default=3, help="timed reads per page and reader")
    args = parser.parse_args(argv)

    pages = sorted(PAGES.glob("*.html"))
    results: dict[str, dict] = {}
    for name, read in readers().items():
        read(pages[0].read_text(encoding="utf-8"))  # imports and first-use costs out of the timings
        per_page = {}
        for page in pages:
            expected = json.loads(page.with_suffix(".json").read_text(encoding="utf-8"))
            per_page[page.stem] = score_page(read, page.read_text(encoding="utf-8"), expected, args.repeats)
        rows = per_page.values()
        results[name] = {
            "token_f1": round(statistics.mean(r["f1"] for r in rows), 4),
            "precision": round(statistics.mean(r["precision"] for r in rows), 4),
            "recall": round(statistics.mean(r["recall"] for r in rows), 4),
            "title_exact": sum(r["title_exact"] for r in rows),
            "boilerplate_leaked": sum(len(r["leaked"]) for r in rows),
            "pages_with_leaks": sum(1 for r in rows if r["leaked"]),
            "heading_recall": round(statistics.mean(r["heading_recall"] for r in rows), 4),
            "ms_per_page": round(1000 * statistics.median(r["seconds"] for r in rows), 2),
            "pages": {
                stem: {
                    "f1": round(r["f1"], 4),
                    "title_exact": r["title_exact"],
                    "leaked": r["leaked"],
                    "heading_recall": round(r["heading_recall"], 4),
                }
                for stem, r in per_page.items()
            },
        }
    report = {
        "pages": len(pages),
        "machine": f"{platform.machine()} {platform.system()}, python {platform.python_version()}",
        "readers": results,
    }
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
        return 0
    print(f"{len(pages)} pages from {PAGES}")
    print(
        f"{'reader':<12} {'F1':>6} {'prec':>6} {'recall':>6} {'title':>6} {'leaks':>6} {'headings':>9} {'ms/page':>8}"
    )
    for name, r in results.items():
        print(
            f"{name:<12} {r['token_f1']:>6.3f} {r['precision']:>6.3f} {r['recall']:>6.3f} "
            f"{r['title_exact']:>3}/{len(pages):<2} {r['boilerplate_leaked']:>6} {r['heading_recall']:>9.3f} "
            f"{r['ms_per_page']:>8.1f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
