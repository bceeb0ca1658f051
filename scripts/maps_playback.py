"""How fast the Feature maps page plays back, in a real browser (docs/benchmarks.md).

Starts `streamlit run app.py`, opens Feature maps in headless Debian Chromium, trains a comparison
(digits by default), waits until every snapshot is projected, then times:
- the background projection (from the runs' end to the last map),
- a slider move: from asking for a step to the browser having drawn it, for every step, and
- Play: which snapshots it steps through, and how long it takes.

    .venv/bin/python scripts/maps_playback.py --dataset digits --method tsne
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests/ holds the browser helpers the tests use too

from tests.browser import CHROMIUM, CHROMIUM_ARGS, start_app  # noqa: E402

MOVE = """async ([plot, step]) => {
    const p = [...document.querySelectorAll('.js-plotly-plot')].find(e => e.textContent.includes(plot));
    const t0 = performance.now();
    await Plotly.animate(p, [step], {frame: {duration: 0, redraw: true}, transition: {duration: 0}, mode: 'immediate'});
    await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));  // drawn on screen
    return performance.now() - t0;
}"""
PLAY = """plot => new Promise(done => {
    const p = [...document.querySelectorAll('.js-plotly-plot')].find(e => e.textContent.includes(plot));
    const seen = [], t0 = performance.now();
    p.on('plotly_animatingframe', e => seen.push(e.name));
    p.on('plotly_animated', () => done([seen, performance.now() - t0]));
    const play = [...p.querySelectorAll('.updatemenu-button')].find(b => b.textContent.includes('Play'));
    play.dispatchEvent(new MouseEvent('click', {bubbles: true}));
})"""
TITLE = "Feature maps over training"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--method", default="tsne", choices=("pca", "tsne", "umap"))
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--points", type=int, default=300, help="points per domain in each map")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    server, url = start_app({"DANN_WARM_UP": "1"} if args.method == "umap" else None)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(
                f"{url}/features?dataset={args.dataset}&steps={args.steps}&method={args.method}&points={args.points}"
            )
            page.get_by_role("button", name="Train and compare").click()
            page.locator(".js-plotly-plot", has_text=TITLE).first.wait_for(timeout=1_800_000)
            t0 = time.perf_counter()
            page.get_by_text("being projected").first.wait_for(state="detached", timeout=1_800_000)
            projected = time.perf_counter() - t0
            page.wait_for_timeout(1500)
            steps = page.locator(".js-plotly-plot", has_text=TITLE).first.evaluate(
                "p => p._fullLayout.sliders[0].steps.map(s => s.label)"
            )
            moves = [page.evaluate(MOVE, [TITLE, s]) for s in steps[::-1] + steps]
            page.evaluate(MOVE, [TITLE, steps[0]])
            seen, play_ms = page.evaluate(PLAY, TITLE)
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=20)
    print(
        f"{args.dataset}, {args.steps} steps, {args.method}, {2 * args.points} points a map, 3 runs, "
        f"{len(steps)} snapshots"
    )
    print(f"background projection after the first map was drawn: {projected:.1f} s more for the rest")
    print(
        f"slider move to a projected step, drawn: median {statistics.median(moves):.0f} ms, "
        f"max {max(moves):.0f} ms over {len(moves)} moves"
    )
    print(
        f"Play: {len(seen)} frames ({', '.join(seen)}) in {play_ms / 1000:.1f} s; "
        f"every snapshot shown: {set(seen) == set(steps)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
