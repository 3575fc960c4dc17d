"""pytest plugin: print how long nbval spent on each notebook, and in total.

Loaded by ``make nbval`` with ``-p tools.nbval_timing``. Works with pytest-xdist:
the reports are summed on the controller.
"""

import json
import os
import time
from collections import defaultdict

_per_notebook: dict[str, float] = defaultdict(float)
_start = time.perf_counter()


def pytest_sessionstart(session):
    global _start
    _start = time.perf_counter()


def pytest_runtest_logreport(report):
    _per_notebook[report.nodeid.split("::")[0]] += report.duration


def pytest_terminal_summary(terminalreporter):
    if not _per_notebook:
        return
    tr = terminalreporter
    tr.section("nbval time per notebook (setup + cells + teardown)")
    for path, seconds in sorted(_per_notebook.items()):
        tr.write_line(f"{seconds:7.1f} s  {path}")
    tr.write_line(f"{sum(_per_notebook.values()):7.1f} s  sum over notebooks")
    wall = time.perf_counter() - _start
    tr.write_line(f"[time] nbval wall clock: {wall:.1f} s")
    report = os.environ.get("NBVAL_TIMING_JSON")
    if report:
        with open(report, "w") as f:
            json.dump({"wall_s": wall, "notebooks": dict(_per_notebook)}, f, indent=1)
