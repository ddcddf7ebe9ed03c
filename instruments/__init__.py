"""Instrument roles: one small typed interface per role, plus lab drivers that speak a real command set."""
