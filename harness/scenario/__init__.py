"""Scenario files: YAML -> validated pydantic models, with file:line messages and a JSON Schema.

A scenario is refused before anything starts. Every problem names the file, the line, the field
and what was expected, e.g.::

    scenarios/x.yaml:12: faults[0].link: unknown link 'api->ledgr'; known links: ...

Validation runs in three layers: the models (types, ranges, unknown fields), cross-checks inside
the scenario (fault windows inside the scenario, phase names, tags), and references against the
target's topology, given as plain :class:`TopologyFacts` so this module does not depend on how
topology files are read. Pydantic error locations are mapped to YAML lines by walking the node
tree from ``yaml.compose`` along the location.
"""

from __future__ import annotations

from harness.facts import TopologyFacts, norm_link, split_link
from harness.faults.base import FaultModel, LinkFaultModel, Pick, ProcessFaultModel
from harness.faults.kinds.bandwidth import BandwidthFault
from harness.faults.kinds.blackhole import BlackholeFault
from harness.faults.kinds.crash import CrashFault
from harness.faults.kinds.down import DownFault
from harness.faults.kinds.latency import LatencyFault
from harness.faults.kinds.limit_data import LimitDataFault
from harness.faults.kinds.partition import PartitionFault
from harness.faults.kinds.pause import PauseFault
from harness.faults.kinds.registry_outage import RegistryOutageFault
from harness.faults.kinds.reset_peer import ResetPeerFault
from harness.faults.kinds.restart import RestartFault
from harness.faults.kinds.slicer import SlicerFault
from harness.faults.kinds.slow_close import SlowCloseFault
from harness.faults.kinds.stop import StopFault
from harness.scenario.crosscheck import (
    LocustfileCheck,
    cross_check,
    effective_load,
    load_check,
    promql_metric_names,
    reference_check,
)
from harness.scenario.expectations import (
    EXPECT_ADAPTER,
    EXPECT_MODELS,
    STEADY_KINDS,
    BreakerExpect,
    DiscoveryExpect,
    Expectation,
    InvariantExpect,
    PromqlExpect,
    SagaConsistencyExpect,
    SloExpect,
    SteadyExpect,
)
from harness.scenario.faultspec import (
    ALL_FAULT_MARKERS,
    DEFAULT_ALLOWED_TAGS,
    FAULT_ADAPTER,
    FAULT_MARKERS,
    LINK_KINDS,
    PROCESS_KINDS,
    FaultSpec,
    RandomFault,
    RandomKind,
    describe_fault,
    fault_params,
    fault_target,
)
from harness.scenario.loading import json_schema, load_files, load_scenario, validate_files
from harness.scenario.models import AbortCondition, Load, Phase, Scenario, Stage, markers
from harness.scenario.schedule import RANDOM_PARAMS, drawn_by_seed, random_schedule, resolve_picks
from harness.yamlsource import Problem

__all__ = [
    "ALL_FAULT_MARKERS",
    "DEFAULT_ALLOWED_TAGS",
    "EXPECT_ADAPTER",
    "EXPECT_MODELS",
    "FAULT_ADAPTER",
    "FAULT_MARKERS",
    "LINK_KINDS",
    "PROCESS_KINDS",
    "RANDOM_PARAMS",
    "STEADY_KINDS",
    "AbortCondition",
    "BandwidthFault",
    "BlackholeFault",
    "BreakerExpect",
    "CrashFault",
    "DiscoveryExpect",
    "DownFault",
    "Expectation",
    "FaultModel",
    "FaultSpec",
    "InvariantExpect",
    "LatencyFault",
    "LimitDataFault",
    "LinkFaultModel",
    "Load",
    "LocustfileCheck",
    "PartitionFault",
    "PauseFault",
    "Phase",
    "Pick",
    "Problem",
    "ProcessFaultModel",
    "PromqlExpect",
    "RandomFault",
    "RandomKind",
    "RegistryOutageFault",
    "ResetPeerFault",
    "RestartFault",
    "SagaConsistencyExpect",
    "Scenario",
    "SlicerFault",
    "SloExpect",
    "SlowCloseFault",
    "Stage",
    "SteadyExpect",
    "StopFault",
    "TopologyFacts",
    "cross_check",
    "describe_fault",
    "drawn_by_seed",
    "effective_load",
    "fault_params",
    "fault_target",
    "json_schema",
    "load_check",
    "load_files",
    "load_scenario",
    "markers",
    "norm_link",
    "promql_metric_names",
    "random_schedule",
    "reference_check",
    "resolve_picks",
    "split_link",
    "validate_files",
]
