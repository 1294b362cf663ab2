"""The one exception tree of the harness.

    HarnessError                  exit status 1 unless a subclass says otherwise
    ├── InputInvalid              exit 2: a bad scenario, topology or argument
    │   ├── ScenarioInvalid
    │   └── TopologyInvalid
    ├── InfraUnavailable          exit 3: a binary is missing, a server never became ready
    │   └── BinaryMissing
    ├── FaultError                a fault could not be injected or reverted
    │   └── RevertFailed          a revert failed: the run fails loudly
    └── StackError                exit 3: a process of the target would not start or stop

A resilience property that did not hold is not an exception: it is a check result with verdict
"fail" (``harness.checks.base.CheckResult``), and the scenario's verdict says so.

Messages say what, then which: "unknown link 'api->ledgr' in x.yaml:12; known: ...".
Foreign errors are mapped at the boundary with ``raise ... from exc``.
"""

from __future__ import annotations


class HarnessError(Exception):
    exit_status = 1


class InputInvalid(HarnessError):
    exit_status = 2


class ScenarioInvalid(InputInvalid):
    pass


class TopologyInvalid(InputInvalid):
    pass


class InfraUnavailable(HarnessError):
    exit_status = 3


class BinaryMissing(InfraUnavailable):
    def __init__(self, name: str, how: str) -> None:
        super().__init__(f"{name} not found; {how}")
        self.name = name
        self.how = how


class FaultError(HarnessError):
    pass


class RevertFailed(FaultError):
    pass


class StackError(HarnessError):
    exit_status = 3
