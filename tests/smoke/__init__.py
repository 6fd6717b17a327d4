"""The smoke check: ChargeBridge in a real ``hass`` process against the simulator.

``python -m tests.smoke`` (what ``scripts/smoke`` runs with a target's Python) needs only
Home Assistant and the integration's own requirements, so it runs on a Home Assistant
release before any test harness exists for it.
"""
