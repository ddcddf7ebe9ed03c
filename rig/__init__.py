"""The rig: rig files, DUT profiles, the clock, the driver registry and the safe state."""
