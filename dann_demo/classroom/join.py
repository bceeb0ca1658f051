"""The join screen's QR code: the students' link as a PNG, drawn on this machine (segno), no web service."""

from __future__ import annotations

import io

import segno


def qr_png(link: str, scale: int = 12) -> bytes:
    """The link as a QR code, `scale` pixels a module, with the standard quiet zone of 4 modules. Error
    correction M (15%): readable from the back of a room off a projector with a glare spot on it."""
    out = io.BytesIO()
    segno.make(link, error="m", micro=False).save(out, kind="png", scale=scale, border=4)
    return out.getvalue()
