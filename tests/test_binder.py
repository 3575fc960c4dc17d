"""The Binder environment (binder/): the book's pins, torch's CPU build, birnn_utils installed.

mybinder.org cannot be reached from here; these tests check what repo2docker will read.
"""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BINDER = ROOT / "binder"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def _lines(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text(encoding="utf8").splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def test_requirements_take_the_book_pins_and_the_cpu_index():
    lines = _lines(BINDER / "requirements.txt")
    assert f"--extra-index-url {CPU_INDEX}" in lines
    includes = [line.split(maxsplit=1)[1] for line in lines if line.startswith("-r ")]
    assert includes == ["../requirements.txt"]
    pins = _lines((BINDER / includes[0]).resolve())
    torch = [p for p in pins if re.match(r"torch==", p)]
    assert len(torch) == 1 and "+" not in torch[0], "torch==X.Y.Z matches X.Y.Z+cpu"
    cuda = [p for p in pins if re.match(r"(nvidia-|triton)", p)]
    assert cuda == [], "CUDA packages would make Binder pull several GB"


def test_post_build_installs_the_package_from_the_repository_root():
    post_build = BINDER / "postBuild"
    assert post_build.stat().st_mode & 0o111, "postBuild must be executable"
    subprocess.run(["bash", "-n", str(post_build)], check=True)
    commands = _lines(post_build)
    assert "set -euo pipefail" in commands
    assert any(re.fullmatch(r"python -m pip install (--no-deps )?(-e )?\.", c) for c in commands)
    assert (ROOT / "pyproject.toml").is_file()


def test_runtime_is_the_python_the_book_is_tested_with():
    runtime = (BINDER / "runtime.txt").read_text(encoding="utf8").strip()
    assert runtime == f"python-{sys.version_info.major}.{sys.version_info.minor}"
    workflow = (ROOT / ".github" / "workflows" / "book.yml").read_text(encoding="utf8")
    assert f"python:{runtime.removeprefix('python-')}-" in workflow, "CI's Python is Binder's"
