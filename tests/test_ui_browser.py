"""`jobspec ui` in a real headless Chromium (Debian's chromium and chromium-driver packages),
driven by selenium: the page as a user sees it. Without Chromium these tests, and only these,
are skipped with a notice saying how to get it.

Screenshots go to $JOBSPEC_UI_SCREENSHOTS when set (docs/ holds one of each), else to the
test's temporary folder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.test_ui_api import (
    SECRET,
    copy_runs,
    make_project,
    make_study,
    run_job,
    ui_servers,
)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
NOTICE = ("browser tests need Chromium: `apt-get install -y chromium chromium-driver` "
          "(Debian); only tests/test_ui_browser.py is skipped without it")

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
except ImportError:  # the test extra installs it
    webdriver = None

pytestmark = pytest.mark.skipif(CHROMIUM is None or DRIVER is None or webdriver is None,
                                reason=NOTICE)


@pytest.fixture
def browser() -> Iterator[Any]:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--window-size=1400,900", "--no-first-run", "--disable-extensions"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(DRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(name="ui_of")
def _ui_of() -> Iterator[Any]:
    yield from ui_servers()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("JOBSPEC_UI_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def until(what: Callable[[], Any], timeout: float = 20, message: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            found = what()
        except Exception:  # the page is still being drawn  # noqa: BLE001
            found = None
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not seen in {timeout} s: {message}")
        time.sleep(0.1)


def rows(browser: Any) -> dict[str, str]:
    """The jobs table as shown: row id -> its text."""
    return dict(browser.execute_script(
        "const found = {}; for (const r of document.querySelectorAll('#jobs tbody tr[data-id]'))"
        " { found[r.dataset.id] = r.innerText; } return found;"))


def commit_all(project: Path) -> str:
    """PROJECT as a git repository with one commit of everything in it; that commit."""
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c",
           "commit.gpgsign=false"]
    marker = project / ".git"
    if marker.is_dir() and not any(marker.iterdir()):
        marker.rmdir()  # make_project's marker folder: a real repository instead
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "the code"]):
        subprocess.run([*git, *args], cwd=project, check=True, capture_output=True)
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=project, check=True,
                          capture_output=True, text=True).stdout.strip()


def test_the_table_shows_a_finished_local_run_and_a_cloud_job(tmp_path: Path, cloud_env,
                                                              ui_of, browser, shots) -> None:
    project = make_project(tmp_path / "proj", cloud_env.bucket)
    head = commit_all(project)  # the commit column: the code each job came from
    cloud = run_job(project, "--target", "cloud", wait=False)  # meanwhile, the local runs
    assert run_job(project, "--target", "local").returncode == 0
    assert run_job(project, "--target", "local", "--", "--fail").returncode == 1
    sweep = (project / "job.yaml").read_text().replace("name: tiny", "name: sweep")
    (project / "sweep.yaml").write_text(
        sweep + "matrix:\n  steps: [2, 3]\nargs: ['--steps=${matrix.steps}']\n")
    done = subprocess.run([sys.executable, "-m", "jobspec", "run", "sweep.yaml", "--target",
                           "local"], cwd=project, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert isinstance(cloud, subprocess.Popen) and cloud.wait(timeout=120) == 0
    ui = ui_of(project)
    browser.get(ui.url)
    shown = until(lambda: (r := rows(browser)) and any(k.startswith("cloud/") for k in r) and r,
                  message="a local run and a cloud job in the table")
    group = browser.find_element(By.CSS_SELECTOR, "#jobs tr.group").text
    assert "matrix, 2 members" in group and "succeeded" in group
    assert len(browser.find_elements(By.CSS_SELECTOR, "#jobs tr.member")) == 2
    local = [text for key, text in shown.items() if key.startswith("local/tiny/")]
    assert len(local) == 2 and any("succeeded" in t for t in local)
    assert any("failed" in t for t in local)
    (cloud_row,) = [text for key, text in shown.items() if key == "cloud/cloud/tiny"]
    assert "succeeded" in cloud_row and "cloud us-central1" in cloud_row
    assert head[:10] in cloud_row and all(head[:10] in text for text in local)
    # filters: by state
    browser.find_element(By.CSS_SELECTOR, "#filter-state option[value=failed]").click()
    until(lambda: len(rows(browser)) == 1, message="only the failed run")
    (only,) = rows(browser).values()
    assert "failed" in only
    browser.find_element(By.CSS_SELECTOR, "#filter-state option[value='']").click()
    until(lambda: len(rows(browser)) == 5, message="every row again")
    browser.set_window_size(1400, 470)
    browser.save_screenshot(str(shots / "ui-jobs.png"))
    assert SECRET not in browser.page_source


def test_a_failed_jobs_page_shows_its_traceback(tmp_path: Path, ui_of, browser,
                                                shots) -> None:
    project = make_project(tmp_path / "proj")
    assert run_job(project, "--target", "local", "--", "--fail").returncode == 1
    ui = ui_of(project)
    browser.get(ui.url)
    link = until(lambda: browser.find_element(By.CSS_SELECTOR, "#jobs a[href^='#/job/']"))
    link.click()
    traceback = until(lambda: browser.find_elements(By.CSS_SELECTOR, "#log .traceback"),
                      message="the traceback marked in the log")
    marked = "\n".join(t.text for t in traceback)
    assert marked.startswith("Traceback (most recent call last):")
    assert "ValueError: the loss went to nan" in marked
    assert browser.find_element(By.ID, "jump-traceback").is_displayed()
    assert "failed" in browser.find_element(By.TAG_NAME, "h1").text
    assert '"API_TOKEN": "****"' in browser.find_element(By.ID, "plan").text
    assert "token in the trainer: ****" in browser.find_element(By.ID, "log").text
    assert SECRET not in browser.page_source
    browser.set_window_size(1400, 1150)
    browser.save_screenshot(str(shots / "ui-failed-job.png"))
    browser.find_element(By.ID, "jump-traceback").click()
    until(lambda: browser.execute_script(
        "const r = document.querySelector('#log .traceback').getBoundingClientRect();"
        "return r.top >= 0 && r.bottom <= window.innerHeight;"), message="traceback in view")


def test_a_running_jobs_log_grows_without_a_reload(tmp_path: Path, ui_of, browser) -> None:
    project = make_project(tmp_path / "proj")
    stop = project / "stop"
    running = run_job(project, "--target", "local", "--", "--wait-for", str(stop), wait=False)
    assert isinstance(running, subprocess.Popen)
    try:
        until(lambda: list((project / ".jobspec/runs/tiny").glob("*/log")), message="a record")
        ui = ui_of(project)
        browser.get(ui.url)
        until(lambda: "running" in "".join(rows(browser).values()), message="running in table")
        browser.find_element(By.CSS_SELECTOR, "#jobs a[href^='#/job/']").click()
        log = until(lambda: browser.find_element(By.ID, "log"))
        browser.execute_script("window.__same_page = true;")
        until(lambda: "tick 2" in log.text, message="tick 2 in the log")
        until(lambda: "tick 8" in log.text, message="more lines, without a reload")
        assert browser.execute_script("return window.__same_page === true;")
        assert "following" in browser.find_element(By.ID, "log-state").text
        stop.touch()
        assert running.wait(timeout=30) == 0
        until(lambda: "succeeded" in browser.find_element(By.TAG_NAME, "h1").text,
              message="the page says succeeded when the run ends")
        assert browser.execute_script("return window.__same_page === true;")
    finally:
        stop.touch()
        if running.poll() is None:
            running.kill()


def test_a_metrics_plot_is_drawn_from_a_runs_metrics(tmp_path: Path, ui_of, browser) -> None:
    project = make_project(tmp_path / "proj")
    assert run_job(project, "--target", "local", "--", "--steps", "12").returncode == 0
    written = json.loads((project / "output/tiny/metrics.json").read_text())
    assert len(written) == 12
    ui = ui_of(project)
    browser.get(ui.url)
    until(lambda: browser.find_element(By.CSS_SELECTOR, "#jobs a[href^='#/job/']")).click()
    chart = until(lambda: browser.find_element(By.CSS_SELECTOR,
                                               ".chart[data-metric=loss] canvas"),
                  message="the loss chart")
    assert "loss" in browser.find_element(By.CSS_SELECTOR, ".chart[data-metric=loss]").text
    # the line is drawn: the canvas has the series' colour in it
    drawn = browser.execute_script(
        "const c = arguments[0]; const d = c.getContext('2d').getImageData(0, 0, c.width,"
        " c.height).data; let n = 0; for (let i = 0; i < d.length; i += 4) {"
        " if (d[i] === 0x1a && d[i+1] === 0x73 && d[i+2] === 0xe8) n++; } return n;", chart)
    assert drawn > 50
    assert browser.find_elements(By.CSS_SELECTOR, ".chart[data-metric=accuracy] canvas")


def test_cancel_works_once(tmp_path: Path, ui_of, browser) -> None:
    project = make_project(tmp_path / "proj")
    stop = project / "stop"
    running = run_job(project, "--target", "local", "--", "--wait-for", str(stop), wait=False)
    assert isinstance(running, subprocess.Popen)
    try:
        until(lambda: list((project / ".jobspec/runs/tiny").glob("*/log")), message="a record")
        ui = ui_of(project)
        browser.get(f"{ui.url}#token={ui.token}")
        until(lambda: "running" in "".join(rows(browser).values()), message="running in table")
        assert browser.find_element(By.ID, "token-state").text == "actions enabled"
        browser.find_element(By.CSS_SELECTOR, "#jobs a[href^='#/job/']").click()
        until(lambda: "tick 1" in browser.find_element(By.ID, "log").text, message="ticks")
        button = browser.find_element(By.ID, "cancel")
        assert "jobspec cancel tiny --target local" in browser.page_source
        button.click()
        result = browser.find_element(By.ID, "action-result")
        until(lambda: result.get_attribute("data-result") == "cancel requested",
              message="cancel requested")
        assert not browser.find_element(By.ID, "cancel").is_enabled()
        # a second click reaching the server (another tab, a re-enabled button) does nothing
        again = browser.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "act('cancel', arguments[0]).then(done, e => done(String(e)));",
            browser.execute_script("return decodeURIComponent(location.hash.slice(6));"))
        assert again["result"] == "already requested" and again["noop"]
        assert running.wait(timeout=30) == 130
        until(lambda: "interrupted" in browser.find_element(By.TAG_NAME, "h1").text,
              message="the page says interrupted")
        assert browser.find_element(By.ID, "cancel").get_attribute("disabled")
    finally:
        stop.touch()
        if running.poll() is None:
            running.kill()


def test_a_studys_page_plots_its_trials_and_marks_the_best(tmp_path: Path, ui_of, browser,
                                                           shots) -> None:
    project = make_study(tmp_path / "proj")
    assert run_job(project, "--target", "local").returncode == 0
    record = json.loads((project / ".jobspec/studies/toy.json").read_text())
    ui = ui_of(project)
    browser.get(ui.url)
    group = until(lambda: browser.find_element(By.CSS_SELECTOR, "#jobs tr.group[data-kind=study]"))
    assert "study, 6 trials" in group.text
    assert len(browser.find_elements(By.CSS_SELECTOR, "#jobs tr.member")) == 6
    group.find_element(By.CSS_SELECTOR, "a[href^='#/group/']").click()
    best = until(lambda: browser.find_element(By.CSS_SELECTOR, "#trials tr.best"),
                 message="the best trial marked")
    assert best.get_attribute("data-trial") == str(record["best"]) and "★ best" in best.text
    assert len(browser.find_elements(By.CSS_SELECTOR, "#trials tbody tr")) == 6
    chart = until(lambda: browser.find_element(By.CSS_SELECTOR, "#study-plot canvas"))
    red = browser.execute_script(
        "const c = arguments[0]; const d = c.getContext('2d').getImageData(0, 0, c.width,"
        " c.height).data; let n = 0; for (let i = 0; i < d.length; i += 4) {"
        " if (d[i] === 0xd9 && d[i+1] === 0x30 && d[i+2] === 0x25) n++; } return n;", chart)
    assert red > 20  # the best trial's point
    browser.set_window_size(1400, 900)
    browser.save_screenshot(str(shots / "ui-study.png"))


def test_the_table_of_500_local_runs(tmp_path: Path, ui_of, browser, capsys) -> None:
    """How long the page takes to show 500 local runs (reported, not asserted: no timed
    assertions)."""
    project = make_project(tmp_path / "proj")
    assert run_job(project, "--target", "local").returncode == 0
    copy_runs(project, 499)
    ui = ui_of(project)
    start = time.perf_counter()
    browser.get(ui.url)
    count = "return document.querySelectorAll('#jobs tbody tr[data-id]').length"
    until(lambda: browser.execute_script(count) == 500, timeout=60, message="500 rows")
    seconds = time.perf_counter() - start
    # when the table first held them, by the page's own clock (from the start of navigation)
    drawn = browser.execute_script(
        "return performance.getEntriesByType('mark').length ? 0 : "
        "performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd;")
    texts = rows(browser)
    assert len(texts) == 500 and all("succeeded" in t for t in texts.values())
    with capsys.disabled():
        print(f"\n500 local runs: table shown {seconds:.2f} s after the request "
              f"(page ready at {drawn:.0f} ms)")

