"""The local backend's state files (``.stormproof/stacks/<id>.json``) and the stacks a dead
owner left behind: stopped by their recorded PIDs and start times only, never by name."""

from __future__ import annotations

from pathlib import Path

from harness.infra.secrets import remove_secrets
from harness.procs import ProcessRecord, StateFile, records_from, start_time
from harness.procs import stop as stop_process
from harness.settings import Settings


def stacks_dir(settings: Settings) -> Path:
    return settings.state_dir / "stacks"


def cleanup_stale(settings: Settings, everything: bool = False) -> list[str]:
    """Stop the stacks whose owner died (all recorded stacks with ``everything``)."""
    stopped: list[str] = []
    folder = stacks_dir(settings)
    if not folder.is_dir():
        return stopped
    for path in sorted(folder.glob("*.json")):
        state = StateFile(path)
        data = state.read()
        if data is None:
            state.remove()
            continue
        owner = data.get("owner")
        owner_alive = owner is not None and start_time(owner["pid"]) == owner["start"]
        if owner_alive and not everything:
            continue
        # the reverters of detached CLI faults ('fault --for ... --detach') first: the stack
        # they would revert is going away
        reverters = [
            ProcessRecord("reverter", f["reverter"]["pid"], f["reverter"]["start"], [], "")
            for f in data.get("faults", [])
            if f.get("reverter")
        ]
        for rec in reverters + list(reversed(records_from(data))):
            if rec.alive():
                stop_process(rec, settings.timeouts.process_stop)
                stopped.append(f"{rec.name} (pid {rec.pid})")
        if data.get("dir"):
            remove_secrets(Path(data["dir"]) / "secrets")
        state.remove()
    return stopped
