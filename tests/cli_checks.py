"""What every CLI error test checks: one `error:` line on stderr, no traceback, a known exit code."""

from __future__ import annotations


def one_error_line(result, code: int = 2, *needles: str) -> str:
    """stderr is exactly one `error:` line (no box, no traceback), the exit code is `code`, and the line names
    each of `needles` (case-insensitive)."""
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle.lower() in lines[0].lower(), lines[0]
    return lines[0]
