"""The conformance suite: one requirement per test, limits from `conformance/limits/`."""
