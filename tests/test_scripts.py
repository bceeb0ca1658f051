"""Every script in scripts/ starts: the Python ones answer --help, the shell ones parse, and the modules the
scripts share (no `__main__` of their own) import."""

import subprocess
import sys

import pytest

from tests.conftest import ROOT

SCRIPTS = sorted((ROOT / "scripts").iterdir())
PYTHON = [s for s in SCRIPTS if s.suffix == ".py"]
MAINS = [s for s in PYTHON if 'if __name__ == "__main__":' in s.read_text()]


@pytest.mark.parametrize("script", MAINS, ids=lambda p: p.name)
def test_a_python_script_answers_help(script):
    out = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "usage:" in out.stdout


@pytest.mark.parametrize("module", [s for s in PYTHON if s not in MAINS], ids=lambda p: p.name)
def test_a_shared_module_of_the_scripts_imports(module):
    code = f"import sys; sys.path.insert(0, 'scripts'); import {module.stem}"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]


@pytest.mark.parametrize("script", [s for s in SCRIPTS if s.suffix == ".sh"], ids=lambda p: p.name)
def test_a_shell_script_parses(script):
    out = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr


def test_every_script_is_covered():
    assert {s.suffix for s in SCRIPTS} <= {".py", ".sh"} and len(SCRIPTS) >= 8
