"""Optional compiled time loops for ``FastBiGRU`` (a small C++ extension).

``csrc/bigru_loops.cpp`` holds ``forward_loop`` and ``backward_loop`` of
``birnn_utils.fast``, the same ATen ops in the same order, registered as
``torch.ops.birnn_fast.*``: the results are bitwise equal, only Python's cost per op goes.
It is built with ``torch.utils.cpp_extension`` and the system C++ compiler into a cache
directory (``$BIRNN_EXT_DIR``, default ``~/.cache/birnn_book/ext``), once per source and
torch version; the build takes from about 20 s (quiet machine) to over a minute.

- ``load(build=True)`` builds if needed and loads; ``load(build=False)`` loads only a
  build that is already there (what a notebook does: it never waits for a compiler).
- Either returns False, with the reason in ``status()``, when there is no compiler, the
  build fails or nothing is built; ``FastBiGRU`` then runs its pure-PyTorch loops.
- ``Compiled`` is ``fast.Kernels`` with the two loops swapped for the compiled ones.
"""

import hashlib
import os
import time
from pathlib import Path

import torch

from birnn_utils import fast
from birnn_utils.validation import check_bool

SOURCE = Path(__file__).with_name("csrc") / "bigru_loops.cpp"
_STATE = {"loaded": False, "reason": "not loaded yet", "build_s": None, "path": None}


def build_dir() -> Path:
    """Where the extension is built: ``$BIRNN_EXT_DIR`` or ``~/.cache/birnn_book/ext``."""
    default = Path.home() / ".cache" / "birnn_book" / "ext"
    return Path(os.environ.get("BIRNN_EXT_DIR", default))


def _name() -> str:
    """One name per source text and torch version, so a stale build is never loaded."""
    digest = hashlib.sha256(SOURCE.read_bytes() + torch.__version__.encode()).hexdigest()
    return f"birnn_bigru_loops_{digest[:12]}"


def status() -> dict:
    """``{"loaded": bool, "reason": str, "build_s": seconds of the build or None, "path"}``."""
    return dict(_STATE)


def is_loaded() -> bool:
    return _STATE["loaded"]


def load(build: bool = False) -> bool:
    """Load the compiled loops (building them first if ``build``); True when loaded."""
    check_bool("build", build)
    if _STATE["loaded"]:
        return True
    name = _name()
    directory = build_dir() / name
    library = directory / f"{name}.so"
    if not library.exists() and not build:
        _STATE["reason"] = f"not built yet (birnn_utils.fast_ext.load(build=True) builds {library})"
        return False
    try:
        if library.exists():
            torch.ops.load_library(str(library))
        else:
            from torch.utils import cpp_extension

            directory.mkdir(parents=True, exist_ok=True)
            start = time.perf_counter()
            cpp_extension.load(
                name,
                [str(SOURCE)],
                build_directory=str(directory),
                extra_cflags=["-O2"],
                is_python_module=False,
                verbose=False,
            )
            _STATE["build_s"] = time.perf_counter() - start
    except Exception as error:  # no compiler, a failed build, an unloadable library
        _STATE["reason"] = f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"
        return False
    _STATE.update(loaded=True, reason="loaded", path=str(library))
    return True


class Compiled(fast.Kernels):
    """``fast.Kernels`` with the compiled forward and backward time loops."""

    name = "compiled loops (C++)"

    @staticmethod
    def forward_loop(gi, gi_n, w_hh_t, hs, gates, n):
        torch.ops.birnn_fast.forward_loop(gi, gi_n, w_hh_t, hs, gates, n)

    @staticmethod
    def backward_loop(dh, coef, z, w_hh):
        torch.ops.birnn_fast.backward_loop(dh, coef, z, w_hh)
