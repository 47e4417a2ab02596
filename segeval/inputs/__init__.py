"""What the user hands in besides masks: class definitions and presets, pairing, submissions."""
