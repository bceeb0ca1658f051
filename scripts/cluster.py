"""A class beyond one process on this machine: redis-server, W training workers, N `streamlit run` app
processes and HAProxy in front of them with sticky sessions (docs/deploy.md says how to spread the same
over several machines).

    .venv/bin/python scripts/cluster.py --app-processes 2 --workers 2          # `make cluster`
    .venv/bin/python scripts/cluster.py --port 8501 --data var/cluster         # Ctrl-C stops every piece

Redis keeps an append-only file under --data, so a class survives a restart of any piece, Redis too.
Students open http://HOST:PORT/ (the proxy); each app process is also reachable on its own port. Debian's
redis-server and haproxy must be installed (`make cluster` installs them). The load test
(scripts/loadtest.py --app-processes) starts the same cluster through this module.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def haproxy_config(port: int, app_ports: list[int], bind: str) -> str:
    """Round robin by open connections, sticky by a cookie: a browser's page, its websocket, its uploads
    and the media it loads go to the app process that holds its session (Streamlit keeps a session in one
    process). A process that stops answering /_stcore/health is left out until it answers again."""
    servers = "\n".join(
        f"    server app{n} 127.0.0.1:{port} check inter 1s fall 2 rise 1 cookie app{n}"
        for n, port in enumerate(app_ports, 1)
    )
    return f"""global
    maxconn 4000  # students at once (each takes 2 file descriptors: their socket and the app's)
defaults
    mode http
    timeout connect 5s
    timeout client 1h
    timeout server 1h
    timeout tunnel 1h
    option redispatch
frontend class
    bind {bind}:{port}
    default_backend apps
backend apps
    balance leastconn
    cookie DANNAPP insert indirect nocache
    option httpchk GET /_stcore/health
{servers}
"""


class Cluster:
    """The pieces of a class beyond one process, each a child process; `stop()` ends them all."""

    def __init__(
        self,
        app_processes: int = 2,
        workers: int = 2,
        port: int = 0,
        data: Path | None = None,
        log: IO[bytes] | None = None,
        bind: str = "127.0.0.1",
        prefix: str = "dann",
        worker_threads: int = 1,
    ):
        self.app_processes, self.workers_wanted = app_processes, workers
        self.port = port or free_port()
        self.bind, self.prefix, self.worker_threads = bind, prefix, worker_threads
        self.data = Path(data) if data else Path(os.environ.get("TMPDIR", "/tmp")) / f"dann-cluster-{os.getpid()}"
        self.log = log if log is not None else sys.stdout.buffer
        self.redis_port = free_port()
        self.redis_url = f"redis://127.0.0.1:{self.redis_port}/0"
        self.redis: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []
        self.apps: list[subprocess.Popen] = []
        self.app_ports: list[int] = []
        self.proxy: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def _spawn(self, command: list[str], env: dict | None = None) -> subprocess.Popen:
        return subprocess.Popen(
            command,
            cwd=ROOT,
            env={**os.environ, "DANN_REDIS_PREFIX": self.prefix, **(env or {})},
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C in the terminal reaches this script, which stops them in order
        )

    def start(self) -> Cluster:
        for program in ("redis-server", "haproxy"):
            if shutil.which(program) is None and not Path(f"/usr/sbin/{program}").exists():
                raise RuntimeError(f"{program} is missing: install Debian's {program} (`make cluster` does)")
        self.data.mkdir(parents=True, exist_ok=True)
        self.redis = self._spawn(
            [
                "redis-server",
                "--port",
                str(self.redis_port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.data),
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
                "--save",
                "",
            ]  # fmt: skip
        )
        self._wait(lambda: self._redis_answers(), 20, "redis-server")
        for n in range(self.workers_wanted):
            self.start_worker(n)
        for n in range(self.app_processes):
            self.app_ports.append(free_port())
            self.apps.append(self._start_app(n))
        for port in self.app_ports:
            self._wait(lambda port=port: self._answers(f"http://127.0.0.1:{port}/_stcore/health"), 120, "streamlit")
        config = self.data / "haproxy.cfg"
        config.write_text(haproxy_config(self.port, self.app_ports, self.bind))
        haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
        self.proxy = self._spawn([haproxy, "-f", str(config), "-db"])
        self._wait(lambda: self._answers(self.url + "_stcore/health"), 20, "haproxy")
        return self

    def start_worker(self, n: int) -> subprocess.Popen:
        worker = self._spawn(
            [
                str(BIN / "dann-playground"),
                "worker",
                "--redis",
                self.redis_url,
                "--name",
                f"worker{n}",
                "--threads",
                str(self.worker_threads),
            ]  # fmt: skip
        )
        if n < len(self.workers):
            self.workers[n] = worker
        else:
            self.workers.append(worker)
        return worker

    def _start_app(self, n: int) -> subprocess.Popen:
        return self._spawn(
            [
                str(BIN / "streamlit"),
                "run",
                "app.py",
                "--server.port",
                str(self.app_ports[n]),
                "--server.headless",
                "true",
                "--browser.gatherUsageStats",
                "false",
            ],  # fmt: skip
            env={"DANN_REDIS_URL": self.redis_url, "DANN_WARM_UP": os.environ.get("DANN_WARM_UP", "0")},
        )

    def restart_app(self, n: int) -> None:
        """Stop app process n and start it again on its port (its sessions reconnect through the proxy)."""
        self._end(self.apps[n])
        self.apps[n] = self._start_app(n)
        self._wait(lambda: self._answers(f"http://127.0.0.1:{self.app_ports[n]}/_stcore/health"), 120, "streamlit")

    def kill_worker(self, n: int) -> None:
        """SIGKILL worker n: no goodbye; the others claim its runs once its heartbeat expires."""
        self.workers[n].kill()
        self.workers[n].wait()

    def pids(self) -> dict[str, list[int]]:
        return {
            "apps": [p.pid for p in self.apps],
            "workers": [p.pid for p in self.workers],
            "redis": [self.redis.pid] if self.redis else [],
            "proxy": [self.proxy.pid] if self.proxy else [],
        }

    def stop(self) -> None:
        for proc in [self.proxy, *self.apps, *self.workers, self.redis]:
            if proc is not None:
                self._end(proc)

    @staticmethod
    def _end(proc: subprocess.Popen) -> None:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def _redis_answers(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.redis_port, socket_connect_timeout=0.5).ping())
        except redis.RedisError:
            return False

    @staticmethod
    def _answers(url: str) -> bool:
        try:
            urllib.request.urlopen(url, timeout=2)
            return True
        except OSError:
            return False

    def _wait(self, ready, timeout: float, what: str) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if ready():
                return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{what} did not start within {timeout:.0f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--app-processes", type=int, default=2, help="streamlit processes behind the proxy (default 2)")
    parser.add_argument("--workers", type=int, default=2, help="training workers (default 2: one per core)")
    parser.add_argument("--port", type=int, default=8501, help="the proxy's port: the class's address (default 8501)")
    parser.add_argument("--bind", default="0.0.0.0", help="the proxy's address (default 0.0.0.0: the room's network)")
    parser.add_argument("--data", type=Path, default=ROOT / "var" / "cluster", help="Redis's append-only file")
    args = parser.parse_args(argv)
    for name in ("app_processes", "workers"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    cluster = Cluster(args.app_processes, args.workers, args.port, args.data, bind=args.bind)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
    try:
        cluster.start()
        print(
            f"the class is at http://{socket.gethostname()}:{cluster.port}/ (HAProxy, sticky sessions) with "
            f"{args.app_processes} app process(es) on ports {cluster.app_ports}, {args.workers} training worker(s), "
            f"Redis at {cluster.redis_url} keeping {args.data}; Ctrl-C stops it all",
            flush=True,
        )
        while all(p.poll() is None for p in [cluster.redis, cluster.proxy]):
            time.sleep(1)
        print("redis-server or haproxy stopped; stopping the rest", file=sys.stderr)
        return 1
    except RuntimeError as e:
        print(f"cluster: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    finally:
        cluster.stop()


if __name__ == "__main__":
    sys.exit(main())
