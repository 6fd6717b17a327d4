"""Tests of the provider simulator itself."""
