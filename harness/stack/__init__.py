"""Stack backends: one way each of running the target (local processes; compose later)."""
