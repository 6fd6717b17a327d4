"""The browser test: the real frontend in Chromium (scripts/browser; not a unit test)."""
