import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory) -> Path:
    """A small synthetic-actions dataset shared by the tests (generated once)."""
    from trainables.data import synth
    root = tmp_path_factory.mktemp("synthetic-actions")
    synth.generate(root, clips_per_class=6, size=48, frames=16, seed=1)
    return root


def maskray(*args: str, cwd: Path | None = None, timeout: int = 600):
    """Runs the installed `maskray` command as a user would."""
    import subprocess
    exe = Path(sys.executable).parent / "maskray"
    return subprocess.run([str(exe), *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)
