"""The six meters' register maps (TOML), read through importlib.resources."""
