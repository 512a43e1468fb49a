"""Caption-image data sets: read, check and split them.

A data set (the DATA argument) is one of:
- a folder of images, each with a same-named `.txt` caption beside it (`cat.png` + `cat.txt`);
- a JSONL file, one object per line: {"image": "imgs/cat.png", "caption": "a cat"};
- a CSV file with a header naming an image column and a caption column.
Image paths in JSONL/CSV are relative to the file. Accepted column names: image, file_name, file,
path for the image; caption, text for the caption.

Bad entries (images `training.images.read_rgb` refuses, missing or empty captions, duplicate images,
rows that are not JSON or name no image) are skipped and listed in a `DataReport`; with `strict=True`
the first one is an error instead.

`list_images` is the one image listing of the package: what a VQGAN trains on or is checked with. It
reads the same folders and files without needing captions (a CSV needs no caption column, and may be
a plain list of paths in its first column), plus `.txt` lists of paths and image files themselves;
`load_images` reads what it lists into an `ImageSet`. Rows that name no image and images that cannot be
used are skipped and listed, never fatal; an empty result is one clean error.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import random
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from blogart.errors import InputError, UsageError
from blogart.text import one_line
from blogart.training.images import MIN_SIDE, UnusableImage, load_image, read_rgb, skipped_line

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif")
IMAGE_KEYS = ("image", "file_name", "file", "path")
CAPTION_KEYS = ("caption", "text")


@dataclass(frozen=True)
class Example:
    name: str  # as the data set names it: a path relative to the folder or the list file
    image: Path
    caption: str
    sha256: str  # of the image file's bytes: the key of its cached codes


@dataclass(frozen=True)
class Skipped:
    name: str
    reason: str


@dataclass(frozen=True)
class DataReport:
    source: str
    format: str  # "folder" | "jsonl" | "csv"
    found: int  # entries in the data set
    kept: int
    skipped: tuple[Skipped, ...] = ()

    def reasons(self) -> dict[str, int]:
        """How many entries were skipped for each kind of problem."""
        return dict(Counter(s.reason.split(":")[0] for s in self.skipped))

    def summary(self, first: int = 5) -> str:
        """One line: kept of found, and when some were skipped, how many, why and the first few names."""
        line = f"{self.kept} of {self.found} examples usable in {self.source}"
        if not self.skipped:
            return line
        return f"{line}; {skipped_line([(s.name, s.reason) for s in self.skipped], first)}"

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "format": self.format,
            "found": self.found,
            "kept": self.kept,
            "skipped": [{"name": s.name, "reason": s.reason} for s in self.skipped],
        }


@dataclass(frozen=True)
class _Entry:
    """One row of a data set before it is checked."""

    name: str
    image: Path
    caption: str | None  # None: the data set gives none
    problem: str | None = None  # set when the row itself is broken (no image named, bad JSON line)


def data_format(data: str | Path) -> str:
    """ "folder", "jsonl" or "csv"; InputError for anything else."""
    path = Path(data)
    if not path.exists():
        raise InputError(f"data set not found: {path}")
    if path.is_dir():
        return "folder"
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json"):
        return "jsonl"
    if suffix in (".csv", ".tsv"):
        return "csv"
    raise InputError(f"{path}: a data set is a folder of images with .txt captions, or a .jsonl or .csv file")


def list_images(sources: Iterable[str | Path]) -> tuple[list[Path], list[Skipped]]:
    """The image files the sources name, in a stable order, and the rows that name none (with why).

    A source is a data set (folder, JSONL, CSV), a `.txt` file of paths (one per line, `#` comments),
    or an image file. Whether the images can be read is for the caller to find out.
    """
    sources = list(sources)
    paths: list[Path] = []
    skipped: list[Skipped] = []
    for source in sources:
        path = Path(source).expanduser()
        if not path.exists():
            raise UsageError(f"{path} does not exist")
        if path.is_file() and path.suffix.lower() == ".txt":
            entries: Iterable[_Entry] = _text_list_entries(path)
        elif path.is_dir() or path.suffix.lower() in (".jsonl", ".json", ".csv", ".tsv"):
            entries = _entries(path, data_format(path), captions=False)
        else:
            entries = [_Entry(path.name, path, None)]
        for entry in entries:
            if entry.problem is None:
                paths.append(entry.image)
            else:
                skipped.append(Skipped(f"{path.name}:{entry.name}", entry.problem))
    if not paths and not skipped:
        raise UsageError(f"no images found in {', '.join(str(s) for s in sources)}")
    return paths, skipped


def load_examples(data: str | Path, strict: bool = False, min_side: int = MIN_SIDE) -> tuple[list[Example], DataReport]:
    """Read and check a data set: the usable examples and a report of what was skipped and why.

    With `strict`, the first problem raises InputError. No usable example at all raises InputError too.
    """
    path = Path(data)
    fmt = data_format(path)
    entries = list(_entries(path, fmt, captions=True))
    if not entries:
        where = f"no images ({', '.join(IMAGE_SUFFIXES)}) in {path}" if fmt == "folder" else f"no rows in {path}"
        raise InputError(f"empty data set: {where}")
    examples: list[Example] = []
    skipped: list[Skipped] = []
    first_of: dict[str, str] = {}  # image hash -> name of its first kept example
    for entry in entries:
        example, problem = _check(entry, min_side, first_of)
        if problem is not None:
            if strict:
                raise InputError(f"{entry.name}: {problem} (--strict stops at the first problem)")
            skipped.append(Skipped(entry.name, problem))
            continue
        first_of[example.sha256] = example.name
        examples.append(example)
    report = DataReport(str(path), fmt, len(entries), len(examples), tuple(skipped))
    if not examples:
        raise InputError(f"no usable examples: {report.summary()}")
    return examples, report


def split_examples(examples: list[Example], test_fraction: float, seed: int) -> tuple[list[Example], list[Example]]:
    """A seeded held-out split (train, test), each in data set order. At least one example stays in train;
    a non-zero fraction holds out at least one example when there are two or more."""
    if not 0 <= test_fraction < 1:
        raise InputError(f"--test-fraction must be in [0, 1), got {test_fraction}")
    n = len(examples)
    n_test = round(n * test_fraction)
    if test_fraction > 0 and n >= 2:
        n_test = max(n_test, 1)
    n_test = min(n_test, n - 1)
    order = list(range(n))
    random.Random(seed).shuffle(order)
    held = set(order[:n_test])
    return [e for i, e in enumerate(examples) if i not in held], [e for i, e in enumerate(examples) if i in held]


# -- reading the three formats -----------------------------------------------------------------------------


def _entries(path: Path, fmt: str, captions: bool) -> Iterator[_Entry]:
    if fmt == "folder":
        yield from _folder_entries(path, captions)
    elif fmt == "jsonl":
        yield from _jsonl_entries(path, captions)
    else:
        yield from _csv_entries(path, captions)


def _folder_entries(folder: Path, captions: bool) -> Iterator[_Entry]:
    images = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    for image in images:
        name = image.relative_to(folder).as_posix()
        caption = None
        text = image.with_suffix(".txt")
        if captions and text.is_file():
            try:
                caption = text.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                yield _Entry(name, image, None, f"unreadable caption: {one_line(exc, named=True)}")
                continue
        yield _Entry(name, image, caption)


def _jsonl_entries(path: Path, captions: bool) -> Iterator[_Entry]:
    lines = _read_text(path).splitlines()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        name = f"line {number}"
        try:
            row = json.loads(line)
        except ValueError:
            yield _Entry(name, path, None, "bad row: not JSON")
            continue
        if not captions and isinstance(row, list | str):  # image lists: ["a.png", ...] or "a.png"
            row = {"image": row[0] if isinstance(row, list) and row else row}
        if not isinstance(row, dict):
            yield _Entry(name, path, None, "bad row: not a JSON object")
            continue
        if not captions and row and not any(k in row for k in IMAGE_KEYS + CAPTION_KEYS):  # keyed otherwise
            row = {"image": next(iter(row.values()))}
        yield _row_entry(path, row, name)


def _csv_entries(path: Path, captions: bool) -> Iterator[_Entry]:
    text = _read_text(path)
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    # strict: an unterminated quote is an error, not a caption that swallows every row after it
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    rows: list[tuple[int, list[str]]] = []
    last = 0
    try:
        for row in reader:
            if any(cell.strip() for cell in row):
                rows.append((reader.line_num, row))
            last = reader.line_num
    except csv.Error as exc:
        if "unexpected end of data" in str(exc):
            raise InputError(f"bad CSV {path}: the quoted field from line {last + 1} is never closed") from None
        raise InputError(f"bad CSV {path}, line {reader.line_num}: {exc}") from None
    if not rows:
        return
    header = [cell.strip().lower() for cell in rows[0][1]]
    image_col = next((header.index(k) for k in IMAGE_KEYS if k in header), None)
    caption_col = next((header.index(k) for k in CAPTION_KEYS if k in header), None)
    if image_col is None and not captions:
        # a plain list of images: the first column, under a header or none
        image_col, rows = 0, rows if _looks_like_image(rows[0][1][0]) else rows[1:]
    elif image_col is None or (captions and caption_col is None):
        found = ", ".join(rows[0][1]) or "nothing"
        what = f" and a caption column ({'/'.join(CAPTION_KEYS)})" if captions else ""
        raise InputError(
            f"bad CSV {path}: its header must name an image column ({'/'.join(IMAGE_KEYS)}){what}; found {found}"
        )
    else:
        rows = rows[1:]
    for line, row in rows:
        cell = row[image_col] if image_col < len(row) else ""
        caption = row[caption_col] if caption_col is not None and caption_col < len(row) else None
        yield _row_entry(path, {"image": cell, "caption": caption}, f"line {line}")


def _looks_like_image(name: str) -> bool:
    return Path(name.strip()).suffix.lower() in IMAGE_SUFFIXES


def _text_list_entries(path: Path) -> Iterator[_Entry]:
    for line in _read_text(path).splitlines():
        name = line.strip()
        if name and not name.startswith("#"):
            image = Path(name).expanduser()
            yield _Entry(name, image if image.is_absolute() else path.parent / image, None)


def _row_entry(list_file: Path, row: dict, name: str) -> _Entry:
    image = next((row[k] for k in IMAGE_KEYS if isinstance(row.get(k), str) and row[k].strip()), None)
    caption = next((row[k] for k in CAPTION_KEYS if k in row), None)
    if image is None:
        return _Entry(name, list_file, None, f"bad row: no image path ({'/'.join(IMAGE_KEYS)})")
    image_path = Path(image.strip()).expanduser()
    image_path = image_path if image_path.is_absolute() else list_file.parent / image_path
    return _Entry(image.strip(), image_path, caption if isinstance(caption, str) else None)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {path}: {one_line(exc, named=True)}") from None


# -- checking one entry -----------------------------------------------------------------------------------


def _check(entry: _Entry, min_side: int, first_of: dict[str, str]) -> tuple[Example | None, str | None]:
    """(the example, None) when usable, else (None, why not)."""
    if entry.problem:
        return None, entry.problem
    if entry.caption is None:
        return None, "missing caption"
    caption = " ".join(entry.caption.split())
    if not caption:
        return None, "empty caption"
    if entry.image.exists() and not entry.image.is_file():
        return None, "unreadable image: not a regular file"
    try:
        data = entry.image.read_bytes()
    except OSError:
        return None, "unreadable image: file not found" if not entry.image.exists() else "unreadable image"
    digest = hashlib.sha256(data).hexdigest()
    if digest in first_of:
        return None, f"duplicate image: same as {first_of[digest]}"
    try:
        read_rgb(data, min_side)
    except UnusableImage as exc:
        return None, str(exc)
    return Example(entry.name, entry.image, caption, digest), None


@dataclass
class ImageSet:
    """Images as uint8 arrays (N, size, size, 3), with the paths they came from and what was skipped."""

    pixels: np.ndarray
    paths: list[Path]
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # (path, why)
    source: str = ""

    def __len__(self) -> int:
        return len(self.paths)

    def skipped_summary(self, shown: int = 5) -> str:
        """'12 of 14 images usable in DIR; skipped 2 (...): a.png, b.png', or '' when none were skipped."""
        if not self.skipped:
            return ""
        found = len(self.paths) + len(self.skipped)
        listed = skipped_line([(p.name, why) for p, why in self.skipped], shown)
        return f"{len(self.paths)} of {found} images usable in {self.source}; {listed}"

    def skipped_json(self) -> list[dict[str, str]]:
        return [{"name": str(p), "reason": why} for p, why in self.skipped]


def load_images(sources: Iterable[str | Path], size: int) -> ImageSet:
    """Every usable image the sources name, as an ImageSet at `size` x `size`."""
    sources = list(sources)
    where = ", ".join(str(s) for s in sources)
    arrays, kept = [], []
    paths, rows = list_images(sources)
    skipped: list[tuple[Path, str]] = [(Path(row.name), row.reason) for row in rows]
    for path in paths:
        try:
            arrays.append(load_image(path, size))
        except UnusableImage as exc:
            skipped.append((path, str(exc)))
            continue
        kept.append(path)
    if not kept:  # every reason in full: nothing else will be printed
        listed = ", ".join(f"{p.name} ({why})" for p, why in skipped[:3])
        more = f" and {len(skipped) - 3} more" if len(skipped) > 3 else ""
        raise UsageError(f"no usable images in {where}" + (f": skipped {listed}{more}" if listed else ""))
    return ImageSet(np.stack(arrays), kept, skipped, where)
