"""The `wallbox-rig` command: run the suite, check a rig file, serve or describe the virtual lab."""
