"""A real redis-server (Debian's package; `make test` installs it) on a free localhost port, for the tests
of the Redis store, the training workers and the cluster. Nothing is written to disk."""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid

import pytest

from tests.browser import free_port

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
needs_redis = pytest.mark.skipif(
    shutil.which("redis-server") is None, reason="Debian's redis-server is missing (make test installs it)"
)


class RedisServer:
    """One redis-server process; stop() and start() again keep its port (Redis lost and back). With
    `persist` (a folder) it keeps an append-only file there, fsynced on every write, so a restart keeps
    everything it had acknowledged."""

    def __init__(self, port: int | None = None, persist=None):
        self.persist = persist
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 10) -> RedisServer:
        keep = ["--dir", str(self.persist), "--appendonly", "yes", "--appendfsync", "always"] if self.persist else []
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", *keep],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        import redis

        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                redis.Redis(port=self.port, socket_connect_timeout=0.5).ping()
                return self
            except redis.ConnectionError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None


def fresh_prefix() -> str:
    """Keys of one test apart from every other's on the shared server."""
    return "t" + uuid.uuid4().hex[:10]
