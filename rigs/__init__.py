"""Rig files shipped with the package: the virtual lab (sim.toml) and example benches."""
