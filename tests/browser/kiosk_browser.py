"""Browser test of the kiosk page with Debian's chromium + chromium-driver (python3-selenium).

Part A drives the page against the test server (build/asan/tests/test_kiosk_http --serve:
the real server, store and worker with the engine TEST DOUBLE of tests/kiosk_test_double.h,
which takes known, slow steps): choose a procedure, see a field error while typing, fill,
edit a scene prompt, generate, see the progress bar move, see the finished (test double's)
MP4 play in the page, history with a thumbnail, re-run with the same seed (a cache hit).

Part B runs the real `./tav kiosk` with the engine (core/pipeline.c) and a model file
(assets/default.tavm, else the tiny test model tests/data/tiny.tavm): generate and see the
engine's video play. It prints SKIP with the reason when the engine or a model is missing.

Screenshots go to build/screenshots/kiosk-*.png (KIOSK_SHOT_DIR=docs/img refreshes the
docs' copies). Prints PASS/FAIL/SKIP lines for tests/run.sh.
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IMG = os.environ.get("KIOSK_SHOT_DIR") or os.path.join(ROOT, "build", "screenshots")
os.makedirs(IMG, exist_ok=True)
SERVER = os.path.join(ROOT, "build", "asan", "tests", "test_kiosk_http")
TAV = os.path.join(ROOT, "tav")

results = []


def report(status, name, why=""):
    line = f"{status} kiosk_browser_{name}" + (f": {why}" if why else "")
    print(line, flush=True)
    results.append(status)


def start(cmd, env=None):
    for attempt in range(20):  # another `make` may be relinking the binary right now
        try:
            p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True, env=env)
            break
        except OSError:
            if attempt == 19:
                raise
            time.sleep(0.5)
    port = None
    deadline = time.time() + 30
    while time.time() < deadline:
        line = p.stdout.readline()
        if not line:
            break
        if line.startswith("PORT "):
            port = int(line.split()[1])
            break
        if "serving http://" in line:
            port = int(line.split("http://")[1].split("/")[0].split(":")[1])
            break
    if port is None:
        p.kill()
        raise RuntimeError(f"server did not start: {' '.join(cmd)}")
    return p, port


def stop(p):
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout=15)
    except subprocess.TimeoutExpired:
        p.kill()


def browser(profile):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for a in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
              "--disable-background-networking", "--disable-component-update", "--disable-sync",
              f"--user-data-dir={profile}", "--window-size=1280,1000",
              "--autoplay-policy=no-user-gesture-required"):
        opts.add_argument(a)
    service = Service(shutil.which("chromedriver") or "/usr/bin/chromedriver")
    return webdriver.Chrome(service=service, options=opts)


def wait_for(fn, timeout=20, step=0.05):
    end = time.time() + timeout
    while time.time() < end:
        v = fn()
        if v:
            return v
        time.sleep(step)
    return None


def shot(d, name):
    d.save_screenshot(os.path.join(IMG, f"kiosk-{name}.png"))


def video_plays(d, timeout=15):
    """True once the <video> has data and its time advances."""
    def state():
        return d.execute_script(
            "const v=document.getElementById('video');"
            "return v ? [v.readyState, v.currentTime, v.error ? v.error.message || v.error.code : null] : null")
    first = wait_for(lambda: (lambda s: s if s and (s[0] >= 2 or s[2]) else None)(state()), timeout)
    if not first or first[2]:
        return False, f"video state {first}"
    t0 = first[1]
    later = wait_for(lambda: (lambda s: s if s[1] > t0 + 0.1 else None)(state()), timeout)
    return bool(later), f"currentTime {t0:.2f} -> {later[1]:.2f}" if later else "time did not advance"


def part_a(d, port):
    from selenium.webdriver.common.by import By
    base = f"http://127.0.0.1:{port}/"
    d.get(base)
    cards = wait_for(lambda: d.find_elements(By.CSS_SELECTOR, ".card"))
    if not cards or len(cards) < 8:
        report("FAIL", "procedures_listed", f"{len(cards or [])} cards")
        return
    report("PASS", "procedures_listed", f"{len(cards)} procedures")
    shot(d, "1-procedures")

    d.find_element(By.CSS_SELECTOR, ".card[data-id='drill-bit-change']").click()
    press = wait_for(lambda: d.find_element(By.ID, "f-press"))
    press.send_keys("44")
    err = wait_for(lambda: d.find_element(By.ID, "e-press").text)
    nxt = d.find_element(By.ID, "to-review")
    if err == "Press number must be between 1 and 12." and not nxt.is_enabled():
        report("PASS", "validated_while_typing", err)
    else:
        report("FAIL", "validated_while_typing", f"error {err!r}, next enabled {nxt.is_enabled()}")
    shot(d, "2-field-error")
    press.clear()
    press.send_keys("4")
    d.find_element(By.CSS_SELECTOR, "[data-field='piece'][data-value='gear']").click()
    d.find_element(By.CSS_SELECTOR, "[data-field='colour'][data-value='red']").click()
    ok = wait_for(lambda: nxt.is_enabled() and d.find_element(By.ID, "e-press").text == "")
    if not ok:
        report("FAIL", "filled", "Next stayed disabled")
        return
    nxt.click()
    scenes = wait_for(lambda: d.find_elements(By.CSS_SELECTOR, "#scenes textarea"))
    texts = [s.get_attribute("value") for s in scenes]
    if len(texts) == 4 and texts[1] == "the red gear is drilled at the drill press in a close up":
        report("PASS", "scene_prompts_filled", texts[1])
    else:
        report("FAIL", "scene_prompts_filled", repr(texts))
    scenes[3].clear()
    scenes[3].send_keys("the red gear is scanned at the inspection camera in a wide view")
    d.find_element(By.ID, "seed").send_keys("1234")
    shot(d, "3-review")

    d.find_element(By.ID, "generate").click()
    widths, seen_status = [], set()
    end = time.time() + 30
    mid_shot = False
    while time.time() < end:
        w = d.execute_script("return parseFloat(document.getElementById('bar').style.width)||0")
        s = d.find_element(By.ID, "run-status").text
        if not widths or w != widths[-1]:
            widths.append(w)
        seen_status.add(s)
        if 30 <= w <= 70 and not mid_shot:
            shot(d, "4-progress")
            mid_shot = True
        if d.find_element(By.ID, "run-title").text == "Your video is ready":
            break
        time.sleep(0.05)
    # the page may finish between this loop's width read and its title read: read the bar
    # once more, so a run that ended in that gap still shows its final width
    w = d.execute_script("return parseFloat(document.getElementById('bar').style.width)||0")
    if w != widths[-1]:
        widths.append(w)
    inc = [w for w in widths if 0 < w < 100]
    eta = any("left" in s for s in seen_status)
    if len(inc) >= 3 and inc == sorted(inc) and widths[-1] == 100 and eta:
        report("PASS", "progress_bar_moves", f"widths {inc[:3]}...{inc[-1]} then 100, ETA shown")
    else:
        report("FAIL", "progress_bar_moves", f"widths {widths}, statuses {sorted(seen_status)[:4]}")
    plays, why = video_plays(d)
    shot(d, "5-done")
    report("PASS" if plays else "FAIL", "result_video_plays_test_double",
           "test double's MP4 (not the engine): " + why)
    dl = d.find_element(By.ID, "download").get_attribute("href")
    report("PASS" if "/api/jobs/" in dl and dl.endswith("/video") else "FAIL", "download_link", dl)

    d.find_element(By.ID, "nav-history").click()
    items = wait_for(lambda: d.find_elements(By.CSS_SELECTOR, "#history-list li img"))
    loaded = wait_for(lambda: d.execute_script(
        "const i=document.querySelector('#history-list li img'); return i && i.complete && i.naturalWidth>0"))
    report("PASS" if items and loaded else "FAIL", "history_thumbnail", f"{len(items or [])} with thumbnails")
    shot(d, "6-history")
    again = d.find_elements(By.XPATH, "//button[normalize-space()='Run again (same seed)']")
    if again:
        again[0].click()
        st = wait_for(lambda: (lambda t: t if "Made earlier" in t else None)(
            d.find_element(By.ID, "run-status").text), 15)
        report("PASS" if st else "FAIL", "rerun_same_seed_is_cache_hit", st or "no cache-hit message")
    else:
        report("FAIL", "rerun_same_seed_is_cache_hit", "no re-run button")

    # cancel from the page while the bar moves
    d.find_element(By.ID, "nav-new").click()
    d.find_element(By.CSS_SELECTOR, ".card[data-id='weld-seam-check']").click()
    wait_for(lambda: d.find_elements(By.CSS_SELECTOR, "[data-field='piece']"))
    d.find_element(By.CSS_SELECTOR, "[data-field='piece'][data-value='pipe']").click()
    nxt = d.find_element(By.ID, "to-review")
    wait_for(lambda: nxt.is_enabled())
    nxt.click()
    gen = wait_for(lambda: (lambda g: g if g.is_displayed() and g.is_enabled() else None)(
        d.find_element(By.ID, "generate")))
    gen.click()
    # the previous run left the bar at 100 %: wait for this job's own progress
    cancel = d.find_element(By.ID, "cancel")
    wait_for(lambda: cancel.is_displayed() and d.find_element(By.ID, "run-title").text == "Making the video"
             and 10 < d.execute_script("return parseFloat(document.getElementById('bar').style.width)||0") < 100)
    cancel.click()
    title = wait_for(lambda: (lambda t: t if t == "Cancelled" else None)(d.find_element(By.ID, "run-title").text))
    msg = d.find_element(By.ID, "run-error").text
    report("PASS" if title and "Cancelled by the operator" in msg else "FAIL", "cancel_from_page",
           f"{title}: {msg}")
    shot(d, "9-cancelled")


def part_b(d, profile_dir):
    from selenium.webdriver.common.by import By
    if not os.path.exists(TAV):
        report("SKIP", "engine_video_plays", "./tav is not built")
        return
    model = os.path.join(ROOT, "assets", "default.tavm")
    if not os.path.exists(model):
        model = os.path.join(ROOT, "tests", "data", "tiny.tavm")
    if not os.path.exists(model):
        report("SKIP", "engine_video_plays", "no model file (assets/default.tavm or tests/data/tiny.tavm)")
        return
    db = os.path.join(profile_dir, "engine.db")
    p, port = start([TAV, "kiosk", "--port", "0", "--db", db, "--model", model])
    try:
        d.get(f"http://127.0.0.1:{port}/")
        wait_for(lambda: d.find_elements(By.CSS_SELECTOR, ".card"))
        banner = d.find_element(By.ID, "banner")
        if banner.is_displayed():
            shot(d, "7-engine-missing")
            report("SKIP", "engine_video_plays", "the engine is not available: " + banner.text)
            return
        d.find_element(By.CSS_SELECTOR, ".card[data-id='conveyor-jam']").click()
        wait_for(lambda: d.find_elements(By.CSS_SELECTOR, "[data-field='line']"))
        d.find_element(By.CSS_SELECTOR, "[data-field='line'][data-value='A']").click()
        d.find_element(By.CSS_SELECTOR, "[data-field='piece'][data-value='gear']").click()
        nxt = d.find_element(By.ID, "to-review")
        wait_for(lambda: nxt.is_enabled())
        nxt.click()
        scenes = wait_for(lambda: d.find_elements(By.CSS_SELECTOR, "#scenes textarea"))
        if model.endswith("tiny.tavm"):
            # the tiny test model knows 19 words: edit the scenes into them (also tests editing)
            err = wait_for(lambda: d.find_element(By.ID, "review-error").text)
            gen_off = not d.find_element(By.ID, "generate").is_enabled()
            report("PASS" if err and "does not know these words: 'orange'" in err and gen_off else "FAIL",
                   "unknown_words_flagged_while_editing", err or "no message")
            shot(d, "8-unknown-words")
            for ta, text in zip(scenes, ["a red gear moves along the conveyor",
                                         "the blue plate", "a wide view of the press"]):
                ta.clear()
                ta.send_keys(text)
        gen = d.find_element(By.ID, "generate")
        if not wait_for(lambda: gen.is_enabled() and not d.find_element(By.ID, "review-error").text):
            report("FAIL", "engine_video_plays", "scenes refused: " + d.find_element(By.ID, "review-error").text)
            return
        gen.click()
        done = wait_for(lambda: d.find_element(By.ID, "run-title").text in
                        ("Your video is ready", "The video could not be made"), 120)
        if d.find_element(By.ID, "run-title").text != "Your video is ready":
            report("FAIL", "engine_video_plays", d.find_element(By.ID, "run-error").text or str(done))
            return
        plays, why = video_plays(d)
        shot(d, "7-engine-video")
        report("PASS" if plays else "FAIL", "engine_video_plays",
               f"engine + {os.path.relpath(model, ROOT)}: {why}")
    finally:
        stop(p)


def main():
    try:
        import selenium  # noqa: F401
    except ImportError:
        report("SKIP", "all", "python3-selenium is not installed (scripts/install-deps.sh test)")
        return 0
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        report("SKIP", "all", "chromium / chromium-driver are not installed (scripts/install-deps.sh test)")
        return 0
    if not os.path.exists(SERVER):
        report("SKIP", "all", f"{os.path.relpath(SERVER, ROOT)} is not built (make test builds it)")
        return 0
    os.makedirs(IMG, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="tav-browser-")
    d = None
    srv = None
    try:
        srv, port = start([SERVER, "--serve", "--db", os.path.join(tmp, "k.db"), "--port", "0",
                           "--steps", "24", "--step-ms", "120"],
                          env=dict(os.environ, ASAN_OPTIONS="detect_leaks=0"))
        d = browser(os.path.join(tmp, "profile-a"))
        part_a(d, port)
        stop(srv)
        srv = None
        part_b(d, tmp)
    except Exception as e:  # a crash of the harness is a failure, with its reason and line
        import traceback
        here = [f for f in traceback.extract_tb(e.__traceback__) if f.filename == __file__]
        where = f" at line {here[-1].lineno}: {here[-1].line}" if here else ""
        report("FAIL", "harness", f"{type(e).__name__}{where}: {str(e).splitlines()[0] if str(e) else ''}")
    finally:
        if d:
            d.quit()
        if srv:
            stop(srv)
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if "FAIL" in results else 0


if __name__ == "__main__":
    sys.exit(main())
