"""Optional compiled layer for ``FastBiGRU`` (a small C++ extension).

``csrc/bigru_layer.cpp`` runs one whole bidirectional layer, forward and backward, as two
ops registered as ``torch.ops.birnn_fast.*``: the same equations as ``birnn_utils.fast``,
with three ideas the pure-PyTorch path cannot express, each a bit of ``flags``:
``PARALLEL`` (each direction on its own thread for the whole layer), ``FUSED`` (the gate
math of a step in one pass with ATen's SIMD vector type) and ``CHUNKED`` (the input
projection, and in the backward the weight gradients, a few steps at a time, in the cache).
The results equal the pure path's up to rounding (other kernels, other order; the tests
bound the difference).

It is built with ``torch.utils.cpp_extension``, OpenMP and the system C++ compiler into a
cache directory (``$BIRNN_EXT_DIR``, default ``~/.cache/birnn_book/ext``), once per source,
torch version and instruction set (AVX2 + FMA where the CPU has them); the build takes from
about 20 s (quiet machine) to over a minute.

- ``load(build=True)`` builds if needed and loads; ``load(build=False)`` loads only a
  build that is already there (what a notebook does: it never waits for a compiler).
- Either returns False, with the reason in ``status()``, when there is no compiler, the
  build fails or nothing is built; ``FastBiGRU`` then runs its pure-PyTorch kernels.
- ``Compiled`` is ``fast.Kernels`` with the layer's forward and backward swapped for the
  compiled ones (float32 and float64 on the CPU; anything else takes the pure path).
"""

import hashlib
import os
import time
from pathlib import Path

import torch

from birnn_utils import fast
from birnn_utils.validation import check_bool, describe

SOURCE = Path(__file__).with_name("csrc") / "bigru_layer.cpp"
PARALLEL, FUSED, CHUNKED = 1, 2, 4  # the flags of the C++ ops
# What the C++ ops fill a fresh buffer with: None leaves it uninitialised (they write every
# entry before reading it, and in a training loop the allocator hands back memory that is
# already mapped, so there are no page faults to move out of the loop); the tests set NaN.
BUFFER_FILL = None
_STATE = {"loaded": False, "reason": "not loaded yet", "build_s": None, "path": None}


def build_dir() -> Path:
    """Where the extension is built: ``$BIRNN_EXT_DIR`` or ``~/.cache/birnn_book/ext``."""
    default = Path.home() / ".cache" / "birnn_book" / "ext"
    return Path(os.environ.get("BIRNN_EXT_DIR", default))


def cflags() -> list:
    """Compiler flags: OpenMP, and AVX2 + FMA (ATen's 256-bit vector type) where the CPU
    has them; otherwise ATen's portable vector type."""
    flags = ["-O3", "-fopenmp"]
    if torch.cpu._is_avx2_supported() and "fma" in _cpu_flags():
        flags += ["-mavx2", "-mfma", "-DCPU_CAPABILITY_AVX2", "-DCPU_CAPABILITY=AVX2"]
    return flags


def _cpu_flags() -> set:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux: no FMA claimed, the portable build
        return set()
    return {flag for line in text.splitlines() if line.startswith("flags") for flag in line.split()}


def _name() -> str:
    """One name per source text, torch version and flags: a stale build is never loaded."""
    key = SOURCE.read_bytes() + torch.__version__.encode() + " ".join(cflags()).encode()
    return f"birnn_bigru_layer_{hashlib.sha256(key).hexdigest()[:12]}"


def status() -> dict:
    """``{"loaded": bool, "reason": str, "build_s": seconds of the build or None, "path"}``."""
    return dict(_STATE)


def is_loaded() -> bool:
    return _STATE["loaded"]


def load(build: bool = False) -> bool:
    """Load the compiled layer (building it first if ``build``); True when loaded."""
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
        if not build:  # a finished build from before: load it, never compile
            torch.ops.load_library(str(library))
        else:  # through cpp_extension's file lock, which also waits for a parallel build
            from torch.utils import cpp_extension

            before = library.stat().st_mtime_ns if library.exists() else None
            directory.mkdir(parents=True, exist_ok=True)
            start = time.perf_counter()
            cpp_extension.load(
                name,
                [str(SOURCE)],
                build_directory=str(directory),
                extra_cflags=cflags(),
                extra_ldflags=["-fopenmp"],
                is_python_module=False,
                verbose=False,
            )
            # A build happened when the library is new (cpp_extension also rebuilds when
            # the source moved, e.g. another checkout sharing the cache).
            built = before != library.stat().st_mtime_ns
            _STATE["build_s"] = time.perf_counter() - start if built else None
    except Exception as error:  # no compiler, a failed build, an unloadable library
        _STATE["reason"] = f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"
        return False
    _STATE.update(loaded=True, reason="loaded", path=str(library))
    return True


def _compiled_dtype(x):
    return x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64)


class Compiled(fast.Kernels):
    """``fast.Kernels`` with the whole layer compiled: forward and backward are one C++ op
    each. ``flags`` picks the ideas (all three here; the ablation turns them off)."""

    name = "compiled layer (C++)"
    flags = PARALLEL | FUSED | CHUNKED
    chunk_elements = 131072  # a chunk: 512 KiB of float32 per direction (CHUNKED)

    @classmethod
    def layer_forward(cls, x, h0, weights, keep):
        if not _compiled_dtype(x):
            return super().layer_forward(x, h0, weights, keep)
        present = [w for w in weights if w is not None]
        output, h_n, states, gates, n = torch.ops.birnn_fast.layer_forward(
            x, h0, present, keep, cls.flags, cls.chunk_elements, BUFFER_FILL
        )
        return output, h_n, ((x, h0, states, gates, n, *present) if keep else None)

    @classmethod
    def layer_backward(cls, saved, d_output, d_h_n, need_dx, has_bias):
        if not _compiled_dtype(saved[0]):  # the forward took the pure path: so does this
            return super().layer_backward(saved, d_output, d_h_n, need_dx, has_bias)
        x, h0, states, gates, n, *weights = saved
        dx, dh0, *grads = torch.ops.birnn_fast.layer_backward(
            d_output, d_h_n, x, h0, states, gates, n, weights, need_dx, cls.flags,
            cls.chunk_elements, BUFFER_FILL,
        )
        if not has_bias:  # nn.GRU's order: w_ih, w_hh, b_ih, b_hh per direction
            grads = [grads[0], grads[1], None, None, grads[2], grads[3], None, None]
        return (dx if need_dx else None, dh0, *grads)


def cpp_source(name: str) -> str:
    """The text of the C++ function ``name``, with the comment and ``template`` line above
    it: what ``inspect.getsource`` is for the Python helpers."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a str (a C++ identifier), got {describe(name)}")
    if not name.isidentifier():
        raise ValueError(f"name must be a C++ identifier, got {name!r}")
    lines = SOURCE.read_text().splitlines()
    starts = [i for i, line in enumerate(lines) if f" {name}(" in line and not line[:1].isspace()]
    if not starts:
        raise ValueError(f"name must be a function of {SOURCE.name}, got {name!r}")
    first = starts[0]
    while first > 0 and lines[first - 1].startswith(("//", "template")):
        first -= 1
    last = next(i for i in range(starts[0], len(lines)) if lines[i] == "}")
    return "\n".join(lines[first : last + 1]) + "\n"
