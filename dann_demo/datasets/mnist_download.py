"""MNIST's one download (`dann-playground fetch-mnist`, the Train page's button; needs internet once): the
four files from the first mirror that has a copy whose checksum is the official one, written atomically."""

from __future__ import annotations

import os
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import dann_demo.datasets.mnist as mnist

MAX_DOWNLOAD_BYTES = 20 * 2**20  # the largest file, train-images .gz, is 9.9 MB
DOWNLOAD_TIMEOUT_S = 30


def _fetch(url: str) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": "dann-playground"})
    with urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT_S) as response:
        data = response.read(MAX_DOWNLOAD_BYTES + 1)
    if len(data) > MAX_DOWNLOAD_BYTES:
        raise mnist.MnistError(f"{url}: larger than {MAX_DOWNLOAD_BYTES // 2**20} MB, not an MNIST file.")
    return data


_download_lock = threading.Lock()


def _download_one(name: str, md5: str, target: Path, log_line: Callable[[str], None]) -> tuple[bool, bool, list[str]]:
    """Try each mirror for `name`.gz until a copy passes the checksum.
    Returns (saved, whether any server answered, what went wrong per mirror)."""
    problems, answered = [], False
    for mirror in mnist.MIRRORS:
        url = mirror + name + ".gz"
        try:
            data = _fetch(url)
        except urllib.error.HTTPError as e:  # before URLError, its base: the server answered
            answered = True
            problems.append(f"{url}: HTTP {e.code} {e.reason}")
            continue
        except (urllib.error.URLError, OSError, mnist.MnistError) as e:  # OSError: timeouts, reset connections
            problems.append(f"{url}: {getattr(e, 'reason', e)}")
            continue
        answered = True
        part = target.with_name(target.name + ".part")
        try:
            part.write_bytes(data)
        except OSError as e:
            raise mnist.MnistError(f"Cannot write {part} ({e}); is the data folder writable?")
        try:
            ok = mnist.payload_md5(part) == md5
        except mnist.MnistError:  # not even a readable gzip file
            ok = False
        if not ok:
            part.unlink(missing_ok=True)
            problems.append(f"{url}: the checksum does not match the official MNIST file, so the download was deleted")
            continue
        part.replace(target)  # atomic: a reader never sees half a file
        log_line(f"downloaded {url} -> {target} (checksum ok)")
        return True, answered, problems
    return False, answered, problems


def download(data_dir: str | os.PathLike | None = None, log_line: Callable[[str], None] = print) -> mnist.MnistFiles:
    """Download the missing MNIST files into the data directory, checking each one's checksum.

    A download whose checksum fails is deleted, and the next mirror is tried. Raises mnist.MnistError
    saying what went wrong and which files to put where by hand.
    """
    with _download_lock:  # two students pressing Download at once fetch the files once
        files = mnist.locate(data_dir)
        root = files.data_dir
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise mnist.MnistError(
                f"Cannot create the data folder {root} ({e}); choose another with --data-dir or {mnist.ENV_VAR}."
            )
        for role, path in files.paths.items():
            if path is not None:
                continue
            name, md5 = mnist.FILES[role]
            saved, answered, problems = _download_one(name, md5, root / (name + ".gz"), log_line)
            if not saved:
                intro = (
                    f"Could not get a good copy of {name}.gz."
                    if answered
                    else "Could not download MNIST (no connection to the internet?)."
                )
                raise mnist.MnistError(
                    f"{intro} {mnist.missing_files_message(mnist.locate(root))} Tried: {'; '.join(problems)}."
                )
        return mnist.locate(root)
