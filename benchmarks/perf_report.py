"""Copy the latest performance tables (benchmarks/results/*.md) into docs/BENCHMARKS.md.

They replace whatever stands between the two ``perf-results`` markers of its Performance
section, so ``make bench`` leaves the document holding the figures it has just measured.
Usage:
    python benchmarks/perf_report.py
"""

from __future__ import annotations

from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
DOC = Path(__file__).resolve().parent.parent / "docs" / "BENCHMARKS.md"
BEGIN, END = "<!-- perf-results:begin -->", "<!-- perf-results:end -->"
ORDER = ("overhead", "pipeline", "compile_choices", "roofline", "time_to_quality", "memory")


def main() -> None:
    tables = [(RESULTS / f"{name}.md").read_text(encoding="utf-8").strip()
              for name in ORDER if (RESULTS / f"{name}.md").exists()]
    text = DOC.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{DOC}: no {BEGIN} ... {END} markers to put the tables between")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    DOC.write_text(head + BEGIN + "\n\n" + "\n\n".join(tables) + "\n\n" + END + tail, encoding="utf-8")
    print(f"{DOC}: {len(tables)} tables from {RESULTS}")


if __name__ == "__main__":
    main()
