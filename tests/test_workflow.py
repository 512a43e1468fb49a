"""docs/github-actions.yml: valid YAML with the steps the README promises."""

from __future__ import annotations

from pathlib import Path

import yaml

WORKFLOW = Path(__file__).resolve().parents[1] / "docs" / "github-actions.yml"


def test_workflow_has_the_steps_a_ci_run_needs():
    flow = yaml.safe_load(WORKFLOW.read_text())
    on = flow[True] if True in flow else flow["on"]  # YAML 1.1 reads a bare `on` as true
    assert on["push"]["paths"] == ["content/**"]
    assert flow["permissions"]["contents"] == "write"
    (job,) = flow["jobs"].values()
    steps = job["steps"]
    uses = {step["uses"].split("@")[0]: step for step in steps if "uses" in step}

    assert uses["actions/checkout"]["with"]["fetch-depth"] == 0  # full history for --since
    cached = uses["actions/cache"]["with"]["path"].split()
    assert "~/.cache/huggingface" in cached and "~/.local/share/blogart" in cached

    runs = [step.get("run", "") for step in steps]
    ci = next(i for i, run in enumerate(runs) if "blogart ci content --since" in run)
    assert "${{ github.event.before }}" in runs[ci]
    commit = next(i for i, run in enumerate(runs) if "git commit" in run and "git push" in run)
    assert commit > ci and "[skip ci]" in runs[commit]
    assert all("@" in step["uses"] for step in steps if "uses" in step)  # every action pinned to a version
