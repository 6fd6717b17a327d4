"""A fifth provider defined entirely in the tests: adding one needs no production change."""
