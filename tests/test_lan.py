"""The students' address (lan.py), the join screen's QR code (join.py) and nicknames in a room."""

import io

import pytest

from dann_demo.classroom.join import qr_png
from dann_demo.classroom.lan import interface_addresses, is_loopback, server_address_root, students_roots
from dann_demo.classroom.rooms import MemoryRooms

LAN = [("docker0", "172.17.0.1"), ("tun0", "85.1.2.3"), ("wlan0", "192.168.1.20")]


def test_a_teacher_on_localhost_gets_the_machines_network_addresses_private_first():
    roots, note = students_roots("http://localhost:8501/classroom?room=abcd1234", addresses=LAN)
    assert note == ""
    assert [r.root for r in roots] == ["http://172.17.0.1:8501/", "http://192.168.1.20:8501/", "http://85.1.2.3:8501/"]
    assert roots[1].label == "192.168.1.20 (wlan0)"  # the teacher picks by address and interface
    for host in ("127.0.0.1", "[::1]", "LOCALHOST"):
        assert students_roots(f"http://{host}:9000/", addresses=LAN)[0][0].root == "http://172.17.0.1:9000/"


def test_a_teacher_on_a_network_address_keeps_it_and_a_public_url_comes_first():
    roots, _ = students_roots("https://10.0.0.5:8443/classroom", addresses=LAN)
    assert [r.root for r in roots] == ["https://10.0.0.5:8443/"]
    roots, note = students_roots("http://localhost:8501/", public_url="https://dann.example.org/lab", addresses=LAN)
    assert [r.root for r in roots] == ["https://dann.example.org/lab/"] and note == ""  # a proxy's path stays


def test_no_network_or_a_bad_public_url_is_said_not_hidden():
    roots, note = students_roots("http://localhost:8501/", addresses=[])
    assert [r.root for r in roots] == ["http://localhost:8501/"]
    assert "no network address: students cannot reach it" in note
    roots, note = students_roots("http://localhost:8501/", public_url="dann.example.org", addresses=LAN)
    assert "DANN_PUBLIC_URL='dann.example.org' is not an address" in note and roots[0].root.startswith("http://172.")


def test_this_machines_addresses_are_real_and_never_loopback():
    found = interface_addresses()
    assert all(not is_loopback(address) for _, address in found)
    assert is_loopback("127.0.0.2") and is_loopback("::1") and not is_loopback("192.0.2.2")


def test_the_qr_code_decodes_back_to_the_link():
    pyzbar = pytest.importorskip("pyzbar.pyzbar", reason="pyzbar with Debian's libzbar0 (make test installs it)")
    from PIL import Image

    link = "http://192.168.1.20:8501/?room=abcd1234"
    png = qr_png(link)
    assert png.startswith(b"\x89PNG")
    decoded = pyzbar.decode(Image.open(io.BytesIO(png)))
    assert [d.data.decode() for d in decoded] == [link]


def test_two_students_with_one_nickname_are_told_and_stay_two():
    rooms = MemoryRooms()
    code = rooms.create("teacher")[0].code
    rooms.add_run(code, "session-a", "Ada", "job-1")
    assert rooms.nickname_taken(code, " ada ", "session-b")  # letter case and spaces aside
    assert not rooms.nickname_taken(code, "Ada", "session-a")  # one's own runs are no clash
    assert not rooms.nickname_taken(code, "", "session-b") and not rooms.nickname_taken(code, "Grace", "session-b")
    rooms.add_run(code, "session-b", "Ada", "job-2")
    assert [e.job_id for e in rooms.entries(code)] == ["job-1", "job-2"]  # not merged


def test_streamlits_browser_server_address_counts_when_set_to_a_network_name():
    assert server_address_root("localhost", 8501) == ""  # Streamlit's default says nothing about the network
    assert server_address_root("", 8501) == ""
    assert server_address_root("dann.school.org", 8501) == "http://dann.school.org:8501/"
    assert server_address_root("dann.school.org", 443, "https") == "https://dann.school.org/"
    assert server_address_root("fe80::1", 8501) == "http://[fe80::1]:8501/"
    configured = server_address_root("10.1.2.3", 8501)
    roots, note = students_roots("http://localhost:8501/", addresses=LAN, server_address=configured)
    assert [r.root for r in roots] == ["http://10.1.2.3:8501/"] and note == ""
    roots, _ = students_roots("http://localhost:8501/", "https://dann.example.org/", LAN, server_address=configured)
    assert [r.root for r in roots] == ["https://dann.example.org/"]  # DANN_PUBLIC_URL comes first
