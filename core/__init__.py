"""The bottom layer of the house: errors, readings and edges, the TOML reader, limits and the DUT
profile as typed records.  Everything else imports from here; `core` imports nothing of ours."""
