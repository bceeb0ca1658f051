"""The address students type or scan: this machine's own addresses on the room's network.

A teacher who runs the app on a laptop opens it as http://localhost:8501, and a link built from that
address opens nothing on a student's machine. So, when the teacher's address is a loopback one, the
students' link uses one of the machine's network addresses instead (the Network URL Streamlit prints
at start-up); with several interfaces (wired, Wi-Fi, a VPN) the teacher picks. A public address set by
whoever runs the server comes before all of them: DANN_PUBLIC_URL (for a reverse proxy or a tunnel, path
kept), else Streamlit's own browser.serverAddress when it was set to something other than a loopback name.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import socket
import struct
from dataclasses import dataclass
from urllib.parse import urlsplit

SIOCGIFADDR = 0x8915  # Linux ioctl: an interface's IPv4 address


def interface_addresses() -> list[tuple[str, str]]:
    """(interface, IPv4 address) of each network interface that has one, loopback left out (Linux;
    elsewhere the address the OS would send from, found without sending anything)."""
    found = []
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _, name in socket.if_nameindex():
            with contextlib.suppress(OSError):
                packed = fcntl.ioctl(s.fileno(), SIOCGIFADDR, struct.pack("256s", name[:15].encode()))
                address = socket.inet_ntoa(packed[20:24])
                if not ipaddress.ip_address(address).is_loopback:
                    found.append((name, address))
    if not found:
        with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # a UDP "connect" sends nothing: it only picks the outgoing address
            address = s.getsockname()[0]
            if not ipaddress.ip_address(address).is_loopback and address != "0.0.0.0":
                found.append(("default route", address))
    return found


def is_loopback(host: str) -> bool:
    """Whether a host name or address means this machine only (localhost, 127.x, ::1)."""
    if host.lower() in ("localhost", "localhost.localdomain") or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class StudentsRoot:
    """One address the students' link may start with: what it is, and the root URL (ending in /)."""

    label: str
    root: str


def root_of(url: str) -> str:
    """scheme://host:port/ of a URL (its path, query and fragment dropped), or "" for no address."""
    parts = urlsplit(url or "")
    return f"{parts.scheme}://{parts.netloc}/" if parts.scheme and parts.netloc else ""


def server_address_root(address: str, port: int | str | None, scheme: str = "http") -> str:
    """The root URL Streamlit's browser.serverAddress and browser.serverPort name, or "" when the address
    is unset or a loopback name (Streamlit's default, "localhost", says nothing about the network)."""
    address = (address or "").strip()
    if not address or is_loopback(address):
        return ""
    if "://" in address:  # some set it to a whole URL
        return root_of(address)
    host = f"[{address}]" if ":" in address else address
    default = {"http": "80", "https": "443"}.get(scheme)
    return f"{scheme}://{host}{f':{port}' if port and str(port) != default else ''}/"


def students_roots(
    teacher_url: str,
    public_url: str = "",
    addresses: list[tuple[str, str]] | None = None,
    server_address: str = "",
) -> tuple[list[StudentsRoot], str]:
    """The addresses the students' link can start with, best first, and a note for the teacher ("" when
    all is well). `teacher_url`: the address in the teacher's browser; `public_url`: DANN_PUBLIC_URL;
    `addresses`: (interface, address) pairs, by default this machine's; `server_address`: the root
    server_address_root gives for Streamlit's browser.serverAddress ("" when unset)."""
    note = ""
    public_url = public_url.strip()
    if public_url:
        if root_of(public_url):  # its path stays: a proxy may serve the app under /dann/
            public = urlsplit(public_url)
            root = f"{public.scheme}://{public.netloc}{public.path.rstrip('/')}/"
            return [StudentsRoot("the public address (DANN_PUBLIC_URL)", root)], ""
        note = f"DANN_PUBLIC_URL={public_url!r} is not an address such as https://dann.example.org/: ignored."
    if server_address:
        return [StudentsRoot("the server's address (browser.serverAddress)", server_address)], note
    parts = urlsplit(teacher_url or "")
    teacher_root = root_of(teacher_url)
    if not teacher_root or not is_loopback(parts.hostname or ""):
        return [StudentsRoot("this page's address", teacher_root or "/")], note
    addresses = interface_addresses() if addresses is None else addresses
    port = f":{parts.port}" if parts.port else ""
    # Private (LAN) addresses first: a class is on the room's network; a public or VPN one after.
    ordered = sorted(addresses, key=lambda ia: not ipaddress.ip_address(ia[1]).is_private)
    roots = [StudentsRoot(f"{addr} ({interface})", f"{parts.scheme}://{addr}{port}/") for interface, addr in ordered]
    if roots:
        return roots, note
    return [StudentsRoot("this machine only", teacher_root)], " ".join(
        filter(
            None,
            [
                note,
                f"This page is open as {parts.hostname}, and this machine has no network address: students cannot "
                "reach it. Connect it to the room's network (or set DANN_PUBLIC_URL behind a proxy) and reload.",
            ],
        )
    )


def listen_note(listen: str) -> str:
    """What to tell the teacher when the server listens on a loopback address only (server.address)."""
    if not listen or not is_loopback(listen):
        return ""
    return (
        f"The server listens on {listen} only (server.address), so no other machine reaches it: start it without "
        "that option, or with --server.address 0.0.0.0."
    )
