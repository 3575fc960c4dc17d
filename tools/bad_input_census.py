"""Census of the generated bad inputs of ``tests/test_bad_inputs.py`` (issue 18).

Runs every (target, argument) generator of the registry the way the test does (same
hypothesis profile, unless ``--max-examples`` is given) but records instead of asserting,
then prints how many distinct bad inputs were generated and how each one ended:

- clear error: the expected TypeError/ValueError, naming the argument, nothing changed;
- wrong type: a TypeError where a ValueError was due, or the other way round;
- unclear: the right type, but the message does not name the argument or show the value;
- silent: no exception at all;
- crash: another exception (AttributeError, torch's RuntimeError, ...);
- state changed: parameters, flags, .grad, modes, optimizer, inputs, RNGs or figures moved.

Usage: ``.venv/bin/python tools/bad_input_census.py [--max-examples N] [--details]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import conftest  # noqa: E402, F401 - loads the "book" hypothesis profile and one thread
import test_bad_inputs as suite  # noqa: E402
from hypothesis import given, settings  # noqa: E402


def _recorder(results: dict, name: str, arg: str):
    target = suite.TARGETS[name]

    def record(bad):
        results.setdefault((name, arg, bad.label), suite.classify(target, arg, bad))

    return record


def census(max_examples: int | None = None, skip: tuple[str, ...] = ()):
    """{(target, argument, label): (outcome, detail)} over one run of every generator."""
    results: dict[tuple[str, str, str], tuple[str, str]] = {}
    for name, arg in suite.cases():
        if name in skip or f"{name}:{arg}" in skip:
            continue
        run = given(bad=suite.TARGETS[name].bad[arg])(_recorder(results, name, arg))
        if max_examples is not None:
            run = settings(max_examples=max_examples)(run)
        run()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=None,
                        help="examples per (target, argument); default: the test profile's")
    parser.add_argument("--details", action="store_true",
                        help="print every input that did not end in a clear error")
    parser.add_argument("--skip", action="append", default=[], metavar="TARGET[:ARG]",
                        help="leave out a target (e.g. one that kills the interpreter on "
                             "an old version); may be repeated")
    options = parser.parse_args()
    start = time.perf_counter()
    results = census(options.max_examples, tuple(options.skip))
    seconds = time.perf_counter() - start

    per_module: dict[str, Counter] = defaultdict(Counter)
    for (name, _, _), (outcome, _) in results.items():
        per_module[name.split(".")[0]][outcome] += 1
    total = Counter(outcome for outcome, _ in results.values())
    width = max(len(m) for m in per_module)
    header = f"{'module':<{width}}  " + "  ".join(f"{o:>13}" for o in suite.OUTCOMES)
    print(header)
    print("-" * len(header))
    for module in sorted(per_module):
        print(f"{module:<{width}}  "
              + "  ".join(f"{per_module[module][o]:>13}" for o in suite.OUTCOMES))
    print("-" * len(header))
    print(f"{'total':<{width}}  " + "  ".join(f"{total[o]:>13}" for o in suite.OUTCOMES))
    print(f"\n{len(results)} distinct bad inputs for {len(suite.TARGETS)} signatures "
          f"({len(suite.cases())} arguments) in {seconds:.1f} s")
    bad = {k: v for k, v in results.items() if v[0] != "clear error"}
    if options.details or bad:
        for (name, arg, label), (outcome, detail) in sorted(bad.items()):
            print(f"  {outcome}: {name}({arg}={label}): {detail.splitlines()[0][:160]}")
    return 0 if not bad else 1


if __name__ == "__main__":
    sys.exit(main())
