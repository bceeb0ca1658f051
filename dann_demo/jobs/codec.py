"""What a run produces, as bytes another process can read back: arrays as .npz (read with
allow_pickle=False), everything else as JSON. No pickle anywhere: a store shared by several processes
(redis_store.py) must not run code that one of them wrote.

A blob is one .npz file whose entry "meta" is JSON (as bytes) and whose other entries are the arrays.
"""

from __future__ import annotations

import io
import json
from dataclasses import asdict, fields
from typing import Any

import numpy as np
import pandas as pd
import torch

from dann_demo.config import RunConfig
from dann_demo.method.results import FeatureSnapshot, Gallery, InputPlane, ProgressRecord, RunResult

MAX_BLOB_BYTES = 64 * 2**20  # a result larger than this is not shared (MNIST-sized weights are ~1 MB)


class BlobTooLarge(ValueError):
    pass


def pack(meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8), **arrays)
    data = buffer.getvalue()
    if len(data) > MAX_BLOB_BYTES:
        raise BlobTooLarge(f"{len(data)} bytes is more than the store keeps ({MAX_BLOB_BYTES})")
    return data


def unpack(data: bytes) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    meta = json.loads(arrays.pop("meta").tobytes().decode())
    return meta, arrays


# --- records ---
def record_json(record: ProgressRecord) -> str:
    return json.dumps(asdict(record))


def record_from_json(text: str | bytes) -> ProgressRecord:
    return ProgressRecord(**json.loads(text))


# --- pictures and snapshots: plain dataclasses of arrays (and a step) ---
def _arrays_of(obj: Any) -> dict[str, np.ndarray]:
    return {f.name: np.asarray(getattr(obj, f.name)) for f in fields(obj) if f.name != "step"}


def snapshot_bytes(snapshot: FeatureSnapshot) -> bytes:
    return pack({"step": snapshot.step}, _arrays_of(snapshot))


def snapshot_from_bytes(data: bytes) -> FeatureSnapshot:
    meta, arrays = unpack(data)
    return FeatureSnapshot(step=int(meta["step"]), **arrays)


def picture_bytes(picture: InputPlane | Gallery | None) -> bytes:
    if picture is None:
        return b""
    return pack({"kind": type(picture).__name__}, _arrays_of(picture))


def picture_from_bytes(data: bytes | None) -> InputPlane | Gallery | None:
    if not data:
        return None
    meta, arrays = unpack(data)
    return {"InputPlane": InputPlane, "Gallery": Gallery}[meta["kind"]](**arrays)


# --- a whole result: config, history, metrics, snapshots, weights, pictures ---
def result_bytes(result: RunResult) -> bytes:
    arrays: dict[str, np.ndarray] = {}
    for step, snapshot in result.snapshots.items():
        arrays |= {f"snapshot/{step}/{name}": a for name, a in _arrays_of(snapshot).items()}
    for name, tensor in result.state_dict.items():
        arrays[f"weights/{name}"] = tensor.detach().cpu().numpy()
    for part in ("input_plane", "gallery"):
        if (picture := getattr(result, part)) is not None:
            arrays |= {f"{part}/{name}": a for name, a in _arrays_of(picture).items()}
    meta = {
        "config": result.config.to_dict(),
        "history": [asdict(r) for r in result.history],
        "metrics": result.metrics,
        "lambda_changes": [list(c) for c in result.lambda_changes],
        "weights": list(result.state_dict),  # the state dict's order
    }
    return pack(meta, arrays)


def result_from_bytes(data: bytes) -> RunResult:
    meta, arrays = unpack(data)

    def part(prefix: str) -> dict[str, np.ndarray]:
        return {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}

    snapshots: dict[int, FeatureSnapshot] = {}
    for key in arrays:
        if key.startswith("snapshot/"):
            step = int(key.split("/")[1])
            if step not in snapshots:
                snapshots[step] = FeatureSnapshot(step=step, **part(f"snapshot/{step}/"))
    plane, gallery = part("input_plane/"), part("gallery/")
    return RunResult(
        config=RunConfig.from_dict(meta["config"]),
        history=[ProgressRecord(**r) for r in meta["history"]],
        metrics=meta["metrics"],
        snapshots=dict(sorted(snapshots.items())),
        state_dict={name: torch.from_numpy(arrays[f"weights/{name}"]) for name in meta["weights"]},
        lambda_changes=[(int(s), float(v)) for s, v in meta["lambda_changes"]],
        input_plane=InputPlane(**plane) if plane else None,
        gallery=Gallery(**gallery) if gallery else None,
    )


# --- a sweep's table ---
def frame_json(frame: pd.DataFrame) -> str:
    return frame.to_json(orient="table", index=False)


def frame_from_json(text: str | bytes) -> pd.DataFrame:
    return pd.read_json(io.StringIO(text.decode() if isinstance(text, bytes) else text), orient="table")
