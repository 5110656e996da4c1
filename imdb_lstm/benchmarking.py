"""What the benchmark scripts (`scripts/benchmark.py`, `scripts/bench_speed.py`, `scripts/bench_explain.py`,
`scripts/gpu_sweep.py`) share for their reports: the machine and the time of a run, the command that reproduces it,
the default IMDB source of a checkout, and their own section of BENCHMARKS.md. The scripts pass in every path
(their checkout's root, the report files); nothing here reads a file of the repository.
"""

import datetime
import os
import platform
import shlex
import sys
from pathlib import Path

from .data import HUB_DATASET

__all__ = ["command_line", "default_dataset", "machine_description", "relative_to", "replace_section", "utc_now"]


def default_dataset(repo_root: Path) -> str:
    """The local IMDB copy next to the checkout `repo_root` (`../shared/data/imdb`) if there is one, else the Hub's."""
    local = Path(repo_root).parent / "shared" / "data" / "imdb"
    return str(local) if local.is_dir() else HUB_DATASET


def machine_description() -> str:
    """CPU model (from /proc/cpuinfo) and the cores this process may use."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{cpu}, {cores} cores"


def utc_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def command_line(script: str, argv) -> str:
    """The command that reproduces this run, relative to the repository root."""
    arguments = sys.argv[1:] if argv is None else list(argv)
    return shlex.join(["python", f"scripts/{script}", *arguments])


def relative_to(source: str, root: Path) -> str:
    """An absolute path as a path relative to `root` (no absolute path of this machine in reports); others as given."""
    if not os.path.isabs(source):
        return source
    return os.path.relpath(source, root)


def replace_section(markdown_path: Path, name: str, body: str) -> None:
    """Create or replace the part of `markdown_path` between `<!-- name:begin -->` and `<!-- name:end -->`,
    keeping everything else (other scripts own the other sections)."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    section = f"{begin}\n{body.strip()}\n{end}\n"
    text = markdown_path.read_text(encoding="utf-8") if markdown_path.exists() else "# Benchmarks\n"
    start, stop = text.find(begin), text.find(end)
    if start != -1 and stop > start:
        text = text[:start] + section + text[stop + len(end) :].lstrip("\n")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    markdown_path.parent.mkdir(parents=True, exist_ok=True)
    markdown_path.write_text(text, encoding="utf-8")
