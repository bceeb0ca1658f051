"""How fast the Train live page answers a widget while a digits run trains in the same process.

Runs the real app script with Streamlit's AppTest (in-process, so the training thread competes
for the GIL and the cores exactly as in `streamlit run`), starts the default digits run, then
moves a slider ten times and times each full script rerun. Usage:

    .venv/bin/python scripts/responsiveness.py
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # pages/ is the app's, not part of the installed package


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.sidebar.selectbox[0].select("digits").run()
    at.button[0].click().run()
    from pages.server import job_manager

    manager = job_manager()
    job = manager.get(at.session_state["train_job"])
    deadline = time.monotonic() + 120
    while job.step < 100 and not job.done and time.monotonic() < deadline:
        time.sleep(0.05)
    times = []
    for i in range(10):
        slider = [s for s in at.sidebar.slider if s.label.startswith("λ")][0]
        slider.set_value(1.0 + 0.1 * i)
        t0 = time.perf_counter()
        at.run()
        times.append(time.perf_counter() - t0)
        time.sleep(0.2)
    print(
        f"while training digits at step {job.step}: widget rerun median {statistics.median(times):.3f} s, "
        f"max {max(times):.3f} s over {len(times)} moves of the lambda slider"
    )
    manager.stop(job)


if __name__ == "__main__":
    main()
