"""Write REPORT.md from the recipe's own records (done markers, evaluate.json, measure.json): no number
in it is typed by hand, so rerunning the recipe reproduces it."""

from __future__ import annotations

import json
import re
from pathlib import Path

from blogart.atomic import atomic_write_bytes

MEASURED = Path(__file__).parent / "measure.json"  # `run.py --measure` on the CPU that sized the full recipe
MEASURE_HEADING = "## Per-step times that sized the full recipe"  # REPORT.md's last section
TARGETS = {"psnr": 24.0, "top1": 0.70, "found": 0.50, "generate_seconds": 60.0}


def _pct(value) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "not met")


def _sampling(gen: dict) -> str:
    """'; sampled with condition_scale 2.0, top_k 4' for the model's own sampling defaults, if any."""
    values = gen.get("sampling") or {}
    return "; sampled with " + ", ".join(f"{k} {v}" for k, v in values.items()) if values else ""


def write_report(path: Path, work: Path, size, summary: dict) -> None:
    ev = summary["evaluate"]["result"]
    data = summary["data"]["result"]
    export = summary["export"]["result"]
    recipe = json.loads((Path(export["dest"]) / "recipe.json").read_text())
    clip = ev["clip"]
    gen = ev["generation"]
    timing = ev["generate_command"]
    psnr = ev["vqgan"]["psnr"]
    top1 = clip.get("top1")
    lines = [
        "# The bundled icon model: recipe report",
        "",
        "Written by `recipes/icons/run.py` from its own records; rerun the recipe to reproduce it.",
        "",
        f"- size `{size.name}`, seed {recipe['seed']}, {recipe['date']}, device `{recipe['device']}`",
        f"- data: {data['concepts']} concepts, {data['train']} training and {data['test']} held-out renders "
        f"(sha256 {recipe['data_sha256'][:16]}...)",
        f"- assets: {export['total_bytes'] / 1e6:.1f} MB in all (float16): "
        + ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in export["bytes"].items()),
        "",
        "## Figures",
        "",
        "| measure | value | target | |",
        "|---|---|---|---|",
        f"| VQGAN PSNR on {ev['vqgan']['images']} held-out renders | {psnr:.2f} dB | >= 24 dB "
        f"| {_verdict(psnr >= TARGETS['psnr'])} |",
        f"| CLIP caption -> image top-1 among {clip.get('pairs', 'n/a')} held-out pairs "
        f"(chance {_pct(clip.get('chance'))}) | {_pct(top1) if top1 is not None else clip.get('skipped')} | >= 70% "
        f"| {_verdict(None if top1 is None else top1 >= TARGETS['top1'])} |",
        f"| named concepts found in the best of {gen['images_per_caption']} for {gen['captions']} held-out captions "
        f"({gen['named_concepts']} named; ranked by {gen['ranked_by']}{_sampling(gen)}) "
        f"| {_pct(gen['found'])} | >= 50% "
        f"| {_verdict(gen['found'] >= TARGETS['found'])} |",
        f"| same detector on images of other captions (chance level) | {_pct(gen['chance'])} | | |",
        *(
            [
                f"| same detector on those captions' own renders / their VQGAN round trips (the ceiling a "
                f"perfect DalleBart in these codes would reach) | {_pct(ceiling['renders'])} / "
                f"{_pct(ceiling['vqgan_round_trips'])} | | |"
            ]
            if (ceiling := gen.get("ceiling"))
            else []
        ),
    ]
    if "seconds" in timing:
        how = "bundled defaults" if timing["defaults"] else "explicit --checkpoint/--vqgan, --no-rank"
        lines.append(
            f"| `blogart generate {Path(timing['command'][1]).name} -n 8`, fresh process, empty user dir ({how}) "
            f"| {timing['seconds']:.1f} s{'' if timing['ok'] else ' (failed)'} | < 60 s "
            f"| {_verdict(timing['ok'] and timing['seconds'] < TARGETS['generate_seconds'])} |"
        )
    lines += ["", "## Stages", "", "| stage | seconds | steps | where and how |", "|---|---|---|---|"]
    for stage, done in summary.items():
        result = done["result"] if isinstance(done["result"], dict) else {}
        # `how`: set where a stage ran elsewhere or other than the size says (a GPU, a cut-short run).
        lines.append(
            f"| {stage} | {done['seconds']:.0f} | {result.get('steps', '')} | {result.get('how', 'as the size says')} |"
        )
    total = sum(done["seconds"] for done in summary.values())
    lines += ["", f"Total: {total / 60:.1f} minutes (stages skipped on a rerun count their first run)."]
    if not clip.get("top1") and "skipped" in clip:
        lines += ["", f"CLIP: {clip['skipped']}."]
    lines += measure_section()  # last: `refresh_measure` replaces it on its own
    atomic_write_bytes(path, ("\n".join(lines) + "\n").encode())


def measure_section(measured: Path = MEASURED) -> list[str]:
    if not measured.is_file():
        return []
    m = json.loads(measured.read_text())
    lines = ["", MEASURE_HEADING, ""]
    lines += [f"Measured by `run.py --measure` on {m['device']} ({m['date']}):", ""]
    lines += ["| part | wall seconds | CPU seconds | per |", "|---|---|---|---|"]
    lines += [f"| {r['part']} | {r['wall']:.3f} | {r['cpu']:.3f} | {r['per']} |" for r in m["rows"]]
    cores = m.get("cores") or int(re.search(r"(\d+) CPUs", m["device"]).group(1))
    lines += [
        "",
        "Wall seconds on a shared machine mostly measure its other load, so the plan counts CPU seconds:",
        f"the full recipe on an idle machine of that kind takes between {m['planned_minutes']:.0f} minutes",
        f"(every core busy) and {m['planned_minutes'] * cores:.0f} minutes (one core busy): {m['plan']} at the",
        "low end.",
    ]
    if "wall_minutes" in m:
        lines += ["", f"At this measurement's wall-clock times the same work takes {m['wall_minutes']:.0f} minutes."]
    return lines


def write_measure_only(path: Path, measured: Path = MEASURED) -> None:
    """REPORT.md before the full recipe has run: the measurement that sized it, and no figures yet."""
    lines = [
        "# The bundled icon model: recipe report",
        "",
        "Written by `recipes/icons/run.py` from its own records; rerun the recipe to reproduce it.",
        "",
        "The full recipe has not been run on this tree yet: `recipes/icons/run.sh --out WORK` writes the figures here.",
        *measure_section(measured),
    ]
    atomic_write_bytes(path, ("\n".join(lines) + "\n").encode())


def refresh_measure(path: Path, measured: Path = MEASURED) -> None:
    """After `run.py --measure`: REPORT.md's measure section anew, its figures kept; the measure-only
    report where the recipe has not written one yet."""
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    if "## Figures" not in text:
        write_measure_only(path, measured)
        return
    kept = text.split("\n" + MEASURE_HEADING, 1)[0].rstrip("\n").split("\n")
    atomic_write_bytes(path, ("\n".join([*kept, *measure_section(measured)]) + "\n").encode())
