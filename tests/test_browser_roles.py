"""A room only its teacher runs, in the real app in headless Chromium, as an app process of a cluster (its
rooms in a real redis-server, a training worker beside it): the students' view, a room's limits in a fresh
tab, nicknames shown as typed and escaped in the CSV, and a room code that names another key."""

import re
import threading
from pathlib import Path

import pytest
from playwright.sync_api import expect

from dann_demo.classroom.redis_rooms import RedisRooms
from dann_demo.classroom.room_limits import RoomLimits
from dann_demo.jobs.redis_store import RedisStore
from tests.browser import needs_chromium, start_app
from tests.redis_server import fresh_prefix

pytestmark = [*needs_chromium, pytest.mark.slow]
NICKNAMES = ("[x](http://e.x)", "**big**", "=1+1")


@pytest.fixture
def cluster_app(redis_url, monkeypatch):
    """One app process on Redis and one training worker (in this process), under a fresh prefix."""
    from dann_demo.jobs.worker import Worker

    prefix = fresh_prefix()
    monkeypatch.setenv("DANN_REDIS_PREFIX", prefix)
    worker = Worker(redis_url, name="browser-test")
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    proc, url = start_app({"DANN_REDIS_URL": redis_url, "DANN_REDIS_PREFIX": prefix})
    yield url, RedisRooms(RedisStore(redis_url).r, prefix)
    proc.terminate()
    proc.wait(timeout=20)
    worker.trainers.stop_all()
    worker.stop()
    thread.join(timeout=10)


def test_a_teachers_room_its_limits_and_its_students_text_in_the_browser(cluster_app, browser):
    url, rooms = cluster_app
    teacher = browser.new_page(viewport={"width": 1280, "height": 1000})
    teacher.goto(url + "/classroom")
    teacher.get_by_role("button", name="Open a new room").click()
    teacher.wait_for_url(re.compile(r"room=\w{8}"), timeout=30_000)
    code = re.search(r"room=(\w{8})", teacher.url).group(1)
    assert "key=" not in teacher.url
    teacher.get_by_text("My teacher link").click()
    link = teacher.locator("code", has_text="key=").first.inner_text(timeout=30_000)
    key = re.search(r"key=([\w-]+)", link).group(1)
    rooms.set_limits(
        code, key, RoomLimits(datasets=("moons",), max_steps=3000, pages=("features",), runs_per_student=3)
    )

    # A student edits the link by hand: the room's limits, and a line saying so.
    student = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = student.new_page()
    tab.goto(f"{url}/?room={code}&dataset=digits&steps=50000")
    expect(tab.get_by_text("This room trains on moons only")).to_be_visible(timeout=30_000)
    expect(tab.get_by_label("Data set", exact=True)).to_have_value(re.compile("moons"), timeout=30_000)
    expect(tab.get_by_label("Steps", exact=True)).to_have_value("3000", timeout=30_000)
    fresh = student.new_page()  # the same student's fresh tab, straight to a page the room turned off
    fresh.goto(f"{url}/sweep?room={code}")
    expect(fresh.get_by_text("The Lambda sweep page is off in room")).to_be_visible(timeout=30_000)
    assert fresh.get_by_role("button", name=re.compile("Run the sweep")).count() == 0
    # The class's read-only view: the chart and the table, no control.
    watcher = student.new_page()
    watcher.goto(f"{url}/classroom?room={code}")
    expect(watcher.get_by_text("The class's view (read only)")).to_be_visible(timeout=30_000)
    for control in ("Show the join screen", "Download the room (CSV)", "Close the room"):
        assert watcher.get_by_role("button", name=control).count() == 0
    student.close()

    for n, nickname in enumerate(NICKNAMES):
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{url}/?room={code}&steps=100&seed={30 + n}")
        box = page.get_by_label("Your nickname (optional)", exact=True)
        box.fill(nickname)
        box.press("Enter")
        expect(box).to_have_value(nickname)
        page.wait_for_timeout(500)
        page.get_by_role("button", name="Train", exact=True).click()
        page.get_by_text("Summary").first.wait_for(timeout=120_000)
        page.close()
    expect(teacher.get_by_text("3 run(s), 0 training now")).to_be_visible(timeout=60_000)
    table = teacher.locator('[data-testid="stDataFrame"]')
    table.click(position={"x": 14, "y": 54})  # the first row's selection box
    heading = teacher.get_by_role("heading", name=re.compile("^Run 1:"))
    heading.wait_for(timeout=30_000)
    assert "Run 1: [x](http://e.x), dann" in heading.inner_text().replace("\u2060", "")
    links = teacher.locator('a[href="http://e.x"], a[href="http://e.x/"]')
    assert links.count() == 0, links.first.evaluate("e => e.parentElement.parentElement.outerHTML")
    assert teacher.locator("strong", has_text="big").count() == 0
    with teacher.expect_download() as download:
        teacher.get_by_role("button", name="Download the room (CSV)").click()
    text = Path(download.value.path()).read_text()
    assert "'=1+1" in text and "[x](http://e.x)" in text and "**big**" in text
    teacher.screenshot(path=str(Path(download.value.path()).with_name("class_roles.png")))

    lost = browser.new_page(viewport={"width": 1280, "height": 900})
    lost.goto(f"{url}/classroom?room={code}:entries")
    expect(lost.get_by_text(f"Room '{code}:entries' was not found")).to_be_visible(timeout=30_000)
    assert "WRONGTYPE" not in lost.inner_text("body")
    for page in (teacher, lost):
        page.close()
