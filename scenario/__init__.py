"""Field faults replayed as scenario timelines on the rig clock (`wallbox-rig scenario run`)."""
