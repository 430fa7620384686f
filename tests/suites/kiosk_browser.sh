#!/usr/bin/env bash
# The kiosk page in Debian's headless chromium (tests/browser/kiosk_browser.py):
# procedures, validation while typing, prompts, progress bar, video, history, re-run.
# Screenshots: build/screenshots/kiosk-*.png (KIOSK_SHOT_DIR=docs/img to refresh the docs). Prints PASS/FAIL/SKIP lines.
cd "$(dirname "$0")/../.."
exec "${PY:-/usr/bin/python3}" tests/browser/kiosk_browser.py
