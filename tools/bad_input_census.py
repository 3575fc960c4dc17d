"""Census of the generated bad inputs of ``tests/test_bad_inputs.py`` (issues 18 and 30).

Runs every (target, argument) generator of the registry the way the test does (same
hypothesis profile, unless ``--max-examples`` is given) but records instead of asserting,
and every odd-but-valid case of ``ODD_VALID``, then prints per module how many distinct
inputs were tried and how each one ended:

- ok: a bad input gave the expected TypeError/ValueError (or the documented OSError,
  FloatingPointError), naming the argument, nothing changed; an odd-but-valid input gave
  the right result;
- wrong type: a TypeError where a ValueError was due, or the other way round;
- unclear: the right type, but the message does not name the argument or show the value;
- silent wrong result: a bad input raised nothing, or a valid one gave a wrong result;
- crash: another exception (AttributeError, torch's RuntimeError, ...), or a hang (no
  answer within ``CALL_TIMEOUT_S``);
- state changed: parameters, flags, .grad, hooks, modes, optimizer, inputs, files, RNGs
  or figures moved.

Usage: ``.venv/bin/python tools/bad_input_census.py [--max-examples N] [--details]
[--memory-gb G]``. ``--memory-gb`` caps the process's address space, so that a size the
code fails to refuse makes the allocator fail fast instead of taking the machine's memory
(use it on code from before issue 30).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import conftest  # noqa: E402, F401 - loads the "book" hypothesis profile and one thread
import test_bad_inputs as suite  # noqa: E402
from hypothesis import given, settings  # noqa: E402

COLUMNS = ("tried", "ok", "wrong type", "unclear", "silent wrong result", "crash",
           "state changed")


def _recorder(results: dict, name: str, arg: str):
    target = suite.TARGETS[name]

    def record(bad):
        key = (name, arg, bad.label)
        if key not in results:  # each distinct input once (some are slow on old code)
            results[key] = suite.classify(target, arg, bad)

    return record


def census(max_examples: int | None = None, skip: tuple[str, ...] = (),
           only: tuple[str, ...] = (), derandomize: bool = True):
    """{(target, argument, label): (outcome, detail)} over one run of every generator, and
    {(module, label): (outcome, detail)} over the odd-but-valid cases."""
    results: dict[tuple[str, str, str], tuple[str, str]] = {}
    for name, arg in suite.cases():
        if name in skip or f"{name}:{arg}" in skip or name.split(".")[0] in skip or (
                only and name.split(".")[0] not in only):
            continue
        run = given(bad=suite.TARGETS[name].bad[arg])(_recorder(results, name, arg))
        # derandomize: the same inputs in every run of the same suite, so that a census of
        # older code and one of newer code try the same inputs
        run = settings(derandomize=derandomize, database=None,
                       **({} if max_examples is None else {"max_examples": max_examples}))(run)
        run()
    valid = {}
    for module, label in suite.valid_cases():
        if module in skip or (only and module not in only):
            continue
        case = next(c for c in suite.ODD_VALID[module] if c.label == label)
        valid[(module, label)] = suite.classify_valid(case)
    return results, valid


def table(results: dict, valid: dict) -> tuple[list[str], bool]:
    """The lines of the per-module table, and whether every input ended well."""
    per_module: dict[str, Counter] = defaultdict(Counter)
    for (name, _, _), (outcome, _) in results.items():
        per_module[name.split(".")[0]][
            "ok" if outcome == "clear error" else outcome] += 1
    for (module, _), (outcome, _) in valid.items():
        per_module[module]["ok" if outcome == "right result" else outcome] += 1
    for counts in per_module.values():
        counts["tried"] = sum(counts[c] for c in COLUMNS[1:])
    total = Counter()
    for counts in per_module.values():
        total.update(counts)
    width = max(len(m) for m in [*per_module, "module"])
    header = f"{'module':<{width}}  " + "  ".join(f"{c:>{max(len(c), 5)}}" for c in COLUMNS)
    lines = [header, "-" * len(header)]
    for module in sorted(per_module):
        lines.append(f"{module:<{width}}  " + "  ".join(
            f"{per_module[module][c]:>{max(len(c), 5)}}" for c in COLUMNS))
    lines.append("-" * len(header))
    lines.append(f"{'total':<{width}}  " + "  ".join(
        f"{total[c]:>{max(len(c), 5)}}" for c in COLUMNS))
    return lines, total["ok"] == total["tried"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=None,
                        help="examples per (target, argument); default: the test profile's")
    parser.add_argument("--details", action="store_true",
                        help="print every input, not only those that did not end well")
    parser.add_argument("--skip", action="append", default=[], metavar="TARGET[:ARG]",
                        help="leave out a module, a target or one argument; may be repeated")
    parser.add_argument("--random", action="store_true",
                        help="draw new inputs (default: the same inputs every run)")
    parser.add_argument("--only", action="append", default=[], metavar="MODULE",
                        help="try only these modules; may be repeated")
    parser.add_argument("--timeout-s", type=float, default=None,
                        help="seconds after which a call counts as a hang (default: the "
                             "test's CALL_TIMEOUT_S)")
    parser.add_argument("--memory-gb", type=float, default=None,
                        help="cap the address space (RLIMIT_AS) at this many GiB")
    options = parser.parse_args()
    if options.memory_gb is not None:
        limit = int(options.memory_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    if options.timeout_s is not None:
        suite.CALL_TIMEOUT_S = options.timeout_s
    start = time.perf_counter()
    results, valid = census(options.max_examples, tuple(options.skip),
                            tuple(options.only), not options.random)
    seconds = time.perf_counter() - start
    lines, all_ok = table(results, valid)
    print("\n".join(lines))
    print(f"\n{len(results)} distinct bad inputs for {len(suite.TARGETS)} signatures "
          f"({len(suite.cases())} arguments) and {len(valid)} odd-but-valid calls, "
          f"in {seconds:.1f} s; {len(suite.EXEMPT)} public names exempt (no input to try)")
    rows = [(f"{name}({arg}={label})", outcome, detail)
            for (name, arg, label), (outcome, detail) in results.items()]
    rows += [(f"{module}: {label}", outcome, detail)
             for (module, label), (outcome, detail) in valid.items()]
    for where, outcome, detail in sorted(rows):
        if options.details or outcome not in ("clear error", "right result"):
            first = detail.splitlines()[0][:160] if detail else ""
            print(f"  {outcome}: {where}: {first}")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
