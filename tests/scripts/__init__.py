"""Tests of the scripts that run ChargeBridge for people (scripts/develop_seed.py)."""
