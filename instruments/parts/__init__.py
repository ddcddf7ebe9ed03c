"""Roles composed of bought instruments: the vehicle's CP/PP circuit from a switch unit and a
scope, fault injection from a switch, an electronic load, a DC source and a climate chamber.

Each composite implements the same interface as the board it stands in for, so the suite runs
unchanged; the wiring (which channel does what) is the rig file's `[wiring]` table.
"""
