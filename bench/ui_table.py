"""The console page with 500 local runs: from asking for the page to its jobs table holding
all 500 rows, in headless Chromium (Debian's chromium + chromium-driver, driven by selenium),
against `jobspec list --target local` printing the same 500 runs in a terminal (the baseline,
measured in the same run).

The project is the tests' tiny one: one real `jobspec run --target local`, copied to 500
records with new stamps (tests/test_ui_api.py's helpers). Each round loads the page in a fresh
tab of one browser, so the figure is the page's (its API call and drawing), not Chromium's
start.

    python bench/ui_table.py [--runs 7]
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

import _timing as t

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
ROWS = 500


def main() -> None:
    args = t.parser(__doc__, runs=7).parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_exe = shutil.which("chromedriver")
    if chromium is None or driver_exe is None:
        raise SystemExit("needs Chromium: apt-get install -y chromium chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    from tests.test_ui_api import copy_runs, make_project, run_job, start_ui

    with tempfile.TemporaryDirectory(prefix="jobspec-bench-ui-") as tmp:
        project = make_project(Path(tmp) / "proj")
        if run_job(project, "--target", "local").returncode != 0:
            raise SystemExit("the tiny job failed")
        copy_runs(project, ROWS - 1)
        ui = start_ui(project)
        options = webdriver.ChromeOptions()
        options.binary_location = chromium
        for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--disable-gpu", "--window-size=1400,900"):
            options.add_argument(flag)
        browser = webdriver.Chrome(service=Service(driver_exe), options=options)
        count = "return document.querySelectorAll('#jobs tbody tr[data-id]').length"

        def page() -> float:
            browser.get("about:blank")
            start = time.perf_counter()
            browser.get(ui.url)
            deadline = start + 60
            while browser.execute_script(count) != ROWS:
                if time.perf_counter() > deadline:
                    raise SystemExit(f"the table never held {ROWS} rows")
                time.sleep(0.005)
            return time.perf_counter() - start

        def listed() -> tuple[float, float]:
            return t.run_process([*t.jobspec_argv(), "list", "--target", "local"], cwd=project)

        try:
            stats = t.interleave({f"page: table of {ROWS} local runs": page,
                                  f"jobspec list --target local ({ROWS} runs)": listed},
                                 args.runs)
        finally:
            browser.quit()
            ui.stop()
    base = f"jobspec list --target local ({ROWS} runs)"
    print(t.table(f"console page, {ROWS} local runs", list(stats.values()), baseline=base))
    t.save("ui_table", {"stats": list(stats.values()), "baseline": base})


if __name__ == "__main__":
    main()
