"""The real app in headless Chromium: a run on moons, a digits link, no outside request from any page,
and numbers that read whole at projector sizes."""

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser import needs_chromium

pytestmark = [*needs_chromium, pytest.mark.slow]
PAGES = {"Train live": "/", "Feature maps": "/features", "Lambda sweep": "/sweep", "How it works": "/how_it_works"}
LOOPBACK = re.compile(r"^(https?|wss?)://(127\.0\.0\.1|localhost)(:\d+)?/")


def test_press_train_on_moons_and_see_the_summary(app_url, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(app_url + "/?steps=600&seed=21")
    page.get_by_role("button", name="Train", exact=True).wait_for(timeout=30_000)
    assert page.get_by_text("Data set").count() >= 1
    # Before the run, the data it will train on.
    page.get_by_text("The data: labelled source, unlabelled target").wait_for(timeout=30_000)
    page.get_by_role("button", name="Train", exact=True).click()
    # Curves appear while training, then the summary, then the final charts below it.
    page.get_by_text("Domain loss").first.wait_for(timeout=30_000)
    page.get_by_text("Summary").first.wait_for(timeout=90_000)
    page.locator('[data-testid="stMetric"]').nth(6).wait_for(timeout=30_000)
    page.get_by_text("Input space at step 600").wait_for(timeout=30_000)
    assert page.locator(".js-plotly-plot").count() >= 6
    assert page.get_by_text("The data: labelled source, unlabelled target").count() == 0
    body = page.inner_text("body")
    for label in ("Source accuracy", "Target accuracy", "Domain accuracy", "Proxy A-distance"):
        assert label in body
    assert "Traceback" not in body and "Error" not in body
    page.close()


def test_a_digits_link_opens_digits_and_trains_digits(app_url, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(app_url + "/?dataset=digits&steps=150&seed=3")
    box = page.get_by_label("Data set", exact=True)
    box.wait_for(timeout=30_000)
    expect(box).to_have_value("digits → digits-M (images)", timeout=30_000)
    expect(page.get_by_label("Seed", exact=True)).to_have_value("3", timeout=30_000)
    page.get_by_role("button", name="Train", exact=True).click()
    page.get_by_text("Summary").first.wait_for(timeout=120_000)
    # The image gallery of a digits run (drawn below the summary, so it may come a moment later).
    page.get_by_text("Held-out samples at step 150").wait_for(timeout=30_000)
    assert "dataset=digits" in page.url and "seed=3" in page.url
    page.close()


@pytest.mark.parametrize("title", PAGES)
def test_no_page_asks_an_outside_host_for_anything(app_url, browser, title):
    """Every non-loopback request is blocked and counted; a failed request or a console error fails too.
    (Streamlit's relative _stcore/health probe under a page's own path, answered 404, is expected.)"""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    outside, failed, errors = [], [], []
    context.route(re.compile(r".*"), lambda route: route.continue_() if LOOPBACK.match(route.request.url)
                  or route.request.url.startswith(("data:", "blob:")) else (outside.append(route.request.url),
                                                                          route.abort()))  # fmt: skip
    page = context.new_page()
    page.on("requestfailed", lambda r: failed.append(r.url))
    missing = []  # 404s
    page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(app_url + PAGES[title])
    page.get_by_role("heading", name=title).first.wait_for(timeout=30_000)
    page.wait_for_timeout(3000)  # late requests: icons, fonts, the tab icon
    health_probe = re.compile(r"/[a-z_]+/_stcore/(health|host-config)$")
    probes = [u for u in missing if health_probe.search(u)]
    assert [u for u in missing if u not in probes] == []
    not_found = [e for e in errors if "404 (Not Found)" in e]
    assert len(not_found) <= len(probes)  # a 404 console line names no URL: one per expected probe
    errors = [e for e in errors if e not in not_found]
    assert outside == [], outside
    assert [u for u in failed if not health_probe.search(u)] == []
    assert errors == [], errors
    context.close()


def cut_numbers(page) -> list[str]:
    """Metric values (and the figures under the maps) that do not fit their box: their text is clipped."""
    return page.evaluate(
        """() => [...document.querySelectorAll('[data-testid="stMetricValue"], [data-testid="stMetricValue"] *')]
            .filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.innerText)"""
    )


@pytest.mark.parametrize("width", [1024, 1280])
def test_numbers_read_whole_at_projector_widths(app_url, browser, width):
    page = browser.new_page(viewport={"width": width, "height": 800})
    page.goto(app_url + "/?steps=300&seed=22")
    page.get_by_role("button", name="Train", exact=True).click()
    page.get_by_text("Summary").first.wait_for(timeout=90_000)
    page.locator('[data-testid="stMetric"]').nth(6).wait_for(timeout=30_000)
    assert page.locator('[data-testid="stMetric"]').count() == 7
    assert cut_numbers(page) == []
    page.goto(app_url + "/features?steps=200&seed=22")
    page.get_by_role("button", name="Train and compare").click()
    lines = page.locator("p", has_text="fresh probe")
    lines.first.wait_for(timeout=60_000)
    assert lines.count() == 3
    for i in range(3):  # each line wraps in its column rather than being cut
        box = lines.nth(i).evaluate("e => [e.scrollWidth, e.clientWidth]")
        assert box[0] <= box[1] + 1, lines.nth(i).inner_text()
    for path in ("/sweep", "/how_it_works"):
        page.goto(app_url + path)
        page.get_by_role("heading").first.wait_for(timeout=30_000)
        assert cut_numbers(page) == []
    page.close()


def test_a_room_link_in_two_pages_and_the_class_page_in_a_third(app_url, browser):
    teacher = browser.new_page(viewport={"width": 1280, "height": 1000})
    teacher.goto(app_url + "/classroom")
    teacher.get_by_role("button", name="Open a new room").click()
    teacher.wait_for_url(re.compile(r"room=\w{8}"), timeout=30_000)
    code = re.search(r"room=(\w{8})", teacher.url).group(1)
    students = []
    for nickname, lam in (("Ada", "0.3"), ("Grace", "2")):
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{app_url}/?room={code}&steps=400&lambda_schedule=constant&lambda_value={lam}&seed=7")
        page.get_by_label("Your nickname (optional)", exact=True).fill(nickname)
        page.get_by_label("Your nickname (optional)", exact=True).press("Enter")
        expect(page.get_by_label("Your nickname (optional)", exact=True)).to_have_value(nickname)
        page.wait_for_timeout(500)
        page.get_by_role("button", name="Train", exact=True).click()
        students.append(page)
    for page in students:
        page.get_by_text("Summary").first.wait_for(timeout=120_000)
    # In a room a finished run's charts wait for a click, then come.
    ada = students[0]
    assert ada.locator(".js-plotly-plot").count() == 0
    ada.get_by_text("Decision boundary and training curves").click()
    ada.get_by_text("Input space at step 400").wait_for(timeout=30_000)
    assert ada.locator(".js-plotly-plot").count() >= 6
    # The Class page redraws by itself every few seconds: both runs, finished, in its table and charts.
    table = teacher.locator('[data-testid="stDataFrame"]')
    table.wait_for(timeout=30_000)
    expect(teacher.get_by_text("2 run(s), 0 training now")).to_be_visible(timeout=30_000)
    assert teacher.locator(".js-plotly-plot").count() >= 2
    csv = teacher.get_by_role("button", name="Download the room (CSV)")
    with teacher.expect_download() as download:
        csv.click()
    text = Path(download.value.path()).read_text()
    assert "Ada" in text and "Grace" in text and text.count("finished") == 2
    for page in (teacher, *students):
        page.close()


def test_a_digits_comparison_plays_back_and_its_slider_moves(app_url, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(app_url + "/features?dataset=digits&steps=40&batch_size=16&points=60")
    page.get_by_role("button", name="Train and compare").click()
    plot = page.locator(".js-plotly-plot", has_text="Feature maps over training")
    plot.wait_for(timeout=180_000)
    expect(page.get_by_text("being projected")).to_have_count(0, timeout=180_000)  # every snapshot is in
    plot = page.locator(".js-plotly-plot", has_text="Feature maps over training").first

    def shown() -> tuple[str, list]:
        """The step the slider shows, and the first panel's first trace as drawn."""
        return plot.evaluate(
            "p => [p._fullLayout.sliders[0].steps[p._fullLayout.sliders[0].active].label, Array.from(p._fullData[0].x)]"
        )

    step, at_zero = shown()
    assert step == "0"
    # The slider: a click on its last step shows the final snapshot.
    plot.locator(".slider-group .slider-step, g.slider-container .slider-grip-rect").first.wait_for()
    plot.evaluate("p => Plotly.animate(p, ['40'], {frame: {duration: 0}, mode: 'immediate'})")
    page.wait_for_timeout(800)
    step, at_end = shown()
    assert step == "40" and at_end != at_zero
    # Play: from the start it steps through every snapshot in turn.
    plot.evaluate("p => Plotly.animate(p, ['0'], {frame: {duration: 0}, mode: 'immediate'})")
    seen = plot.evaluate(
        """p => new Promise(done => {
            const labels = [];
            p.on('plotly_animatingframe', e => labels.push(e.name));
            p.on('plotly_animated', () => done(labels));
            const play = [...p.querySelectorAll('.updatemenu-button')].find(b => b.textContent.includes('Play'));
            play.dispatchEvent(new MouseEvent('click', {bubbles: true}));
        })"""
    )
    assert seen[-1] == "40" and {"2", "4", "8", "16", "28"} <= set(seen)
    page.close()


def test_a_room_on_the_network_a_qr_code_and_a_reload_that_keeps_the_run(app_url, browser):
    import io
    from urllib.parse import urlsplit

    from dann_demo.classroom.lan import interface_addresses, is_loopback

    teacher = browser.new_page(viewport={"width": 1280, "height": 1000})
    teacher.goto(app_url.replace("127.0.0.1", "localhost") + "/classroom")  # as `make run` opens it
    teacher.get_by_role("button", name="Open a new room").click()
    teacher.wait_for_url(re.compile(r"room=\w{8}"), timeout=30_000)
    code = re.search(r"room=(\w{8})", teacher.url).group(1)
    link = teacher.locator('[data-testid="stCode"]').first.inner_text().strip()
    shown = urlsplit(link)
    assert link.endswith(f"/?room={code}") and shown.port == urlsplit(app_url).port
    if interface_addresses():  # a machine on a network: the link names it, not the teacher's localhost
        assert not is_loopback(shown.hostname), link
    # The join screen: the QR code decodes back to the very link, the code in large type beside it.
    teacher.get_by_role("button", name="Show the join screen").click()
    qr = teacher.locator('[data-testid="stImage"] img').first
    qr.wait_for(timeout=30_000)
    expect(teacher.get_by_text(code, exact=True)).to_be_visible()
    try:
        from PIL import Image
        from pyzbar.pyzbar import decode
    except ImportError:  # libzbar0 missing: make test installs it
        decode = None
    if decode is not None:
        assert [d.data.decode() for d in decode(Image.open(io.BytesIO(qr.screenshot())))] == [link]
    teacher.get_by_role("button", name="Back to the class").click()
    # The room's limits: runs of up to 6000 steps (each data set's default, 3000, unless the teacher says).
    teacher.get_by_text("The room's limits", exact=True).click()
    steps = teacher.get_by_label("Most steps a run may have (0: each data set's default)")
    steps.fill("6000")
    steps.press("Tab")
    teacher.get_by_role("button", name="Save the room's limits").click()
    expect(teacher.get_by_text("Saved: every run the room's students start")).to_be_visible(timeout=30_000)
    # A student starts a run from the room's link, reloads, and finds the same run, running and then done.
    student = browser.new_page(viewport={"width": 1280, "height": 900})
    student.goto(f"{app_url}/?room={code}&steps=6000&seed=5")
    student.get_by_role("button", name="Train", exact=True).click()
    student.wait_for_url(re.compile(r"run=\w+"), timeout=30_000)
    run = re.search(r"run=(\w+)", student.url).group(1)
    student.reload()
    student.get_by_text(re.compile(r"Step \d+ of 6000|step \d+ of 6000")).first.wait_for(timeout=60_000)
    student.get_by_text("Summary").first.wait_for(timeout=120_000)
    assert re.search(r"run=(\w+)", student.url).group(1) == run
    expect(teacher.get_by_text("1 run(s), 0 training now")).to_be_visible(timeout=30_000)
    for page in (teacher, student):
        page.close()
