"""Shared fixtures of the Python tests (run by scripts/test.sh with pytest).

FS_MODEL_SMOLLM2 names the real test model, FS_CLI the flashstream binary (default build/flashstream),
and the Python module is imported from FS_PYTHON_PATH (default build/python) or an installed package.
"""
import os
import pathlib
import subprocess
import sys
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, os.environ.get("FS_PYTHON_PATH", str(ROOT / "build" / "python")))
sys.path.insert(0, str(pathlib.Path(__file__).parent))  # cdp.py

API_KEY = "sk-flashstream-test"


@pytest.fixture(scope="session")
def model_path():
    path = os.environ.get("FS_MODEL_SMOLLM2")
    if not path:
        pytest.skip("FS_MODEL_SMOLLM2 is not set (scripts/test.sh sets it)")
    return path


@pytest.fixture(scope="session")
def cli():
    path = os.environ.get("FS_CLI", str(ROOT / "build" / "flashstream"))
    assert os.access(path, os.X_OK), f"{path}: no flashstream binary (build it, or set FS_CLI)"
    return path


class Served:
    """A `flashstream serve` process on a loopback port; stop() ends it with SIGTERM."""

    def __init__(self, cli, model, *flags):
        self.proc = subprocess.Popen([cli, "serve", "-m", model, "--port", "0", "-t", "2", "-c", "1024", *flags],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()  # "listening on http://127.0.0.1:PORT"
        assert line.startswith("listening on "), f"serve printed {line!r}"
        self.url = line.split()[-1]

    def stop(self):
        self.proc.terminate()
        assert self.proc.wait(timeout=60) == 0


@pytest.fixture(scope="module")
def server(cli, model_path):
    s = Served(cli, model_path, "--api-key", API_KEY)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def open_server(cli, model_path):
    s = Served(cli, model_path)
    yield s
    s.stop()


def wait_until(predicate, timeout=120, step=0.1):
    """Polls predicate() until true; returns its last value (no timing is asserted)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step)
