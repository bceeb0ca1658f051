"""Uploaded files, kept by content under the data folder's uploads/ and pruned by age and total size, and
the example files the page offers."""

from __future__ import annotations

import hashlib
import io
import os
import re
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

import dann_demo.datasets.file_checks as checks
from dann_demo.datasets.file_checks import DataFileError
from dann_demo.datasets.pair import resolve_data_dir
from dann_demo.datasets.photos import blend_over_photos

UPLOAD_MAX_AGE_DAYS = 7  # uploads older than this are deleted when the next one is saved
UPLOAD_MAX_TOTAL_MB = 1000  # and the oldest go first while all uploads together take more than this


def upload_dir() -> Path:
    """Where uploaded files are kept: the data folder's uploads/ ($DANN_DATA_DIR, else ~/.cache/dann_playground)."""
    return resolve_data_dir() / "uploads"


def prune_uploads(keep: Path | None = None, now: float | None = None) -> list[Path]:
    """Delete uploads older than UPLOAD_MAX_AGE_DAYS, then the oldest until all together take at most
    UPLOAD_MAX_TOTAL_MB; `keep` (the upload just saved) is never deleted. Returns the folders deleted."""
    root = upload_dir()
    if not root.is_dir():
        return []
    now = time.time() if now is None else now
    folders = []
    for folder in root.iterdir():
        files = [f for f in folder.iterdir() if f.is_file()] if folder.is_dir() else []
        if files:
            folders.append((max(f.stat().st_mtime for f in files), sum(f.stat().st_size for f in files), folder))
    folders.sort()  # oldest first
    total = sum(size for _, size, _ in folders)
    deleted = []
    for mtime, size, folder in folders:
        too_old = now - mtime > UPLOAD_MAX_AGE_DAYS * 86400
        if (too_old or total > UPLOAD_MAX_TOTAL_MB * 2**20) and (keep is None or keep.parent != folder):
            for f in folder.iterdir():
                f.unlink(missing_ok=True)
            folder.rmdir()
            total -= size
            deleted.append(folder)
    return deleted


def save_upload(name: str, data: bytes) -> Path:
    """Keep uploaded bytes as uploads/<sha256 of the content>/<name>; the same content gets the same path.

    So a config (and the result cache keyed by its hash) refers to the content, and two people who
    upload different files under the same name never share a path. The name is kept so messages
    name the file the student chose.
    """
    if len(data) > checks.MAX_FILE_MB * 2**20:
        raise DataFileError(name, "the file", f"{len(data) / 2**20:.0f} MB", f"at most {checks.MAX_FILE_MB} MB")
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", Path(name).name)[-100:].lstrip(".") or "upload"
    if Path(safe).suffix.lower() not in (".npz", ".csv"):
        raise DataFileError(name, "the file name", f"the ending '{Path(name).suffix}'", "a .npz or a .csv file")
    folder = upload_dir() / hashlib.sha256(data).hexdigest()
    path = folder / safe
    if not path.is_file() or path.stat().st_size != len(data):
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{safe}.{os.getpid()}.tmp"
        tmp.write_bytes(data)
        os.replace(tmp, path)  # atomic: a concurrent reader sees the whole file or none
    else:
        os.utime(path)  # uploaded again: it counts as new for pruning
    prune_uploads(keep=path)
    return path


def example_npz(kind: str = "table") -> bytes:
    """A small example file in the expected format: "table" (2-D blobs, float32) or "images"
    (scikit-learn digits: grey 8 x 8 uint8 as the source, colour 16 x 16 uint8 on photo crops as the target)."""
    buffer = io.BytesIO()
    if kind == "table":
        from dann_demo.datasets.blobs import blobs

        p = blobs(seed=0)  # the blobs data set's default size, shift, direction and spread
        np.savez_compressed(buffer, source_x=p.source_x, source_y=p.source_y, target_x=p.target_x, target_y=p.target_y)
        return buffer.getvalue()
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    grey = x.reshape(-1, 8, 8) / 16.0
    n_source = 1000  # the rest become the target: other digits, in colour, on photo crops
    big = torch.from_numpy(grey[n_source:, None].astype(np.float32))
    big = F.interpolate(big, size=16, mode="bilinear", align_corners=False).clamp(0, 1).repeat(1, 3, 1, 1).numpy()
    colour = blend_over_photos(big, np.random.RandomState(0)).transpose(0, 2, 3, 1)
    np.savez_compressed(
        buffer,
        source_x=(grey[:n_source] * 255).round().astype(np.uint8),
        source_y=y[:n_source].astype(np.int64),
        target_x=(colour * 255).round().astype(np.uint8),
        target_y=y[n_source:].astype(np.int64),
    )
    return buffer.getvalue()
