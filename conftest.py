"""Load the wallbox-rig plugin; everything else lives in fixtures/."""

pytest_plugins: list[str] = []  # the plugin is registered as the pytest11 entry point `wallbox_rig`
