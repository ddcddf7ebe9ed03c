"""Role `buzzer`: what the wallbox's beeper says (WB-AC-03), heard through a microphone."""
