"""Tests for ChargeBridge."""
