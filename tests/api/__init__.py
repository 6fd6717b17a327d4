"""Client library tests: real HTTP against the simulator."""
