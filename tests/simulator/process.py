"""The simulator in a child process (``python -m tests.simulator``) on a free loopback port.

For the benchmark's driver and the browser test, which need it outside their own event loop.
Standard library only, like profiles.py: starting it does not load the simulator here.
"""

from __future__ import annotations

from pathlib import Path
import subprocess
import sys
import time
from typing import IO, Self

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 60.0
"""Seconds the simulator may take to print its banner."""


class SimulatorProcess:
    """``python -m tests.simulator`` in a child process; its options are the command line's."""

    def __init__(self, *options: str) -> None:
        """Remember what to start; the port is the one the OS picks."""
        self.command = [
            sys.executable,
            "-m",
            "tests.simulator",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            *options,
        ]
        self.process: subprocess.Popen[str] | None = None
        self.url = ""

    def __enter__(self) -> Self:
        """Start it and read its URL from the first line it prints."""
        self.process = subprocess.Popen(
            self.command, cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True
        )
        stdout: IO[str] | None = self.process.stdout
        assert stdout is not None
        deadline = time.monotonic() + START_TIMEOUT
        line = stdout.readline()
        if " on http" not in line or time.monotonic() > deadline:
            self.__exit__()
            raise RuntimeError(f"the simulator did not start: {line!r}")
        self.url = line.split(" on ", 1)[1].split()[0]
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Stop it (SIGTERM: it shuts down cleanly)."""
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        self.process = None
