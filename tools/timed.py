"""Run a command and print how long it took: ``python tools/timed.py LABEL -- CMD ...``."""

import subprocess
import sys
import time

label, sep, *cmd = sys.argv[1:]
if sep != "--" or not cmd:
    sys.exit("usage: timed.py LABEL -- COMMAND [ARGS...]")
start = time.perf_counter()
code = subprocess.call(cmd)
print(f"[time] {label}: {time.perf_counter() - start:.1f} s", flush=True)
sys.exit(code)
