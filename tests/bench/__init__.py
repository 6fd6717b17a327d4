"""The ChargeBridge benchmark: Home Assistant's test harness against the provider simulator.

``python -m tests.bench`` (what ``scripts/bench`` runs) starts the simulator in its own
process for each fleet size and measures each provider in a fresh Home Assistant process;
``harness`` holds the measuring, which the smoke test also runs in-process. No module here
is named ``test_*``: pytest does not collect the benchmark.
"""
