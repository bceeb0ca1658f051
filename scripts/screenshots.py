"""The README's pictures, taken from the real app: `streamlit run app.py` on localhost, driven in headless
Debian Chromium (never a downloaded browser), one PNG per page into assets/screenshots/.

    .venv/bin/python scripts/screenshots.py            # or: make screenshots
    .venv/bin/python scripts/screenshots.py --only class

Each page is shown as a user would see it after one click: Train live after a moons run, Feature maps
after a digits comparison, Lambda sweep after a small moons sweep, How it works, and the Class page
of a room in which six students trained, and its join screen (the QR code for the projector).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests/ holds the browser helpers the tests use too

from tests.browser import CHROMIUM, CHROMIUM_ARGS, start_app, wait_for_app  # noqa: E402

OUT = ROOT / "assets" / "screenshots"
WIDTH, HEIGHT = 1400, 900


def shoot(page, name: str, full: bool = False) -> None:
    page.wait_for_timeout(1500)  # let the charts finish their transitions
    path = OUT / f"{name}.png"
    page.screenshot(path=str(path), full_page=full)
    print(f"wrote {path.relative_to(ROOT)}")


def train(browser, url: str) -> None:
    page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
    page.goto(url + "/?seed=1")
    page.get_by_role("button", name="Train", exact=True).click()
    page.locator('[data-testid="stMetric"]').filter(has_text="Target accuracy").wait_for(timeout=180_000)
    wait_for_app(page)  # a 2-second run redraws the page as it ends: scroll once it has
    page.get_by_text("Input space at step").first.scroll_into_view_if_needed()
    page.mouse.wheel(0, -120)
    shoot(page, "train")
    page.close()


def features(browser, url: str) -> None:
    page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
    page.goto(url + "/features?dataset=digits&steps=1500&method=pca")
    page.get_by_role("button", name="Train and compare").click()
    page.get_by_text("Target acc.").first.wait_for(timeout=600_000)
    page.get_by_text("being projected").first.wait_for(state="detached", timeout=600_000)
    page.wait_for_timeout(3000)  # the page's last redraw after the projection (it replaces the plot)
    maps = page.locator(".js-plotly-plot", has_text="Feature maps over training").first
    maps.scroll_into_view_if_needed()
    page.wait_for_timeout(1500)
    shoot(page, "features_start")  # step 0: three identical pictures, on one scale
    # The last step, where the maps differ: source only and no reversal apart, DANN mixed.
    maps.evaluate(
        """p => Plotly.animate(p, [p._transitionData._frames.at(-1).name],
            {frame: {duration: 0, redraw: true}, transition: {duration: 0}, mode: 'immediate'})"""
    )
    page.wait_for_timeout(1500)
    shoot(page, "features")
    page.close()


def sweep(browser, url: str) -> None:
    page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
    page.goto(url + "/sweep")
    page.get_by_label("Steps per run", exact=True).fill("1500")
    page.get_by_label("Steps per run", exact=True).press("Enter")
    page.wait_for_timeout(1000)
    page.get_by_role("button", name="Run sweep").click()
    page.locator(".js-plotly-plot").first.wait_for(timeout=600_000)
    shoot(page, "sweep")
    page.close()


def how_it_works(browser, url: str) -> None:
    page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
    page.goto(url + "/how_it_works")
    page.get_by_role("heading", name="The network").first.wait_for(timeout=60_000)
    shoot(page, "how_it_works")
    page.close()


def classroom(browser, url: str) -> None:
    teacher = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
    teacher.goto(url + "/classroom")
    teacher.get_by_role("button", name="Open a new room").click()
    teacher.wait_for_url(re.compile(r"room=\w{8}"), timeout=30_000)
    code = re.search(r"room=(\w{8})", teacher.url).group(1)
    lesson = [
        ("Ada", "dann", "0"),
        ("Grace", "dann", "0.1"),
        ("Alan", "dann", "0.3"),
        ("Emmy", "dann", "1"),
        ("Kurt", "dann", "8"),
        ("Sofia", "no_reversal", "1"),
        ("Carl", "source_only", "1"),
    ]
    students = []
    for i, (nickname, mode, lam) in enumerate(lesson):
        page = browser.new_page(viewport={"width": 1000, "height": 800})
        page.goto(f"{url}/?room={code}&mode={mode}&lambda_schedule=constant&lambda_value={lam}&seed={i}")
        field = page.get_by_label("Your nickname (optional)", exact=True)
        field.fill(nickname)
        field.press("Enter")
        page.wait_for_timeout(800)
        page.get_by_role("button", name="Train", exact=True).click()
        students.append(page)
    for page in students:
        page.get_by_text("Summary").first.wait_for(timeout=600_000)
        page.close()
    teacher.get_by_text(f"{len(lesson)} run(s), 0 training now").wait_for(timeout=60_000)
    teacher.get_by_text("Close the room").first.scroll_into_view_if_needed()  # the charts and the table
    teacher.mouse.move(700, 500)
    teacher.mouse.wheel(0, 600)
    shoot(teacher, "class")
    teacher.close()


def join(browser, url: str) -> None:
    """The join screen for the projector, the teacher on localhost as `make run` opens it."""
    teacher = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
    teacher.goto(url.replace("127.0.0.1", "localhost") + "/classroom")
    teacher.get_by_role("button", name="Open a new room").click()
    teacher.wait_for_url(re.compile(r"room=\w{8}"), timeout=30_000)
    teacher.get_by_role("button", name="Show the join screen").click()
    teacher.locator('[data-testid="stImage"] img').first.wait_for(timeout=30_000)
    shoot(teacher, "join")
    teacher.close()


SHOTS = {
    "train": train,
    "features": features,
    "sweep": sweep,
    "how_it_works": how_it_works,
    "class": classroom,
    "join": join,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=",".join(SHOTS), help="comma-separated: " + ", ".join(SHOTS))
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    server, url = start_app()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for name in args.only.split(","):
                SHOTS[name](browser, url)
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=20)
    return 0


if __name__ == "__main__":
    sys.exit(main())
