"""``flowengine test [PATH …]``: flow unit tests written in YAML, run on a virtual clock.

A test file (``*.test.yaml``) names a flow and lists tests. Each test feeds the flow —
messages injected where its sources would send them (or at a named node), or a capture
replayed through the flow's own replaying sources — on an event clock with ``state:
memory``, and compares what named nodes emitted with what it expects::

    flow: flow.yaml
    tests:
      - name: three failed fingerprints within a minute raise one alert
        capture: capture.jsonl
        expect:
          intrusion:                      # what node 'intrusion' emits on `out`
            - topic: alerts/front_door/intrusion
              payload: {attempts: 3}
              meta: {ts: 1732435260.5, rule: intrusion}
      - name: a single failure raises nothing
        input:
          - raw: {ts: 100, ieee: "00:15:8d:00:01:02:03:04", model: lumi.lock.aq1, endpoint: 1,
                  profile: 260, cluster: 257, lqi: 80, frame: "182d0a11ff2300d42221"}
        expect:
          intrusion: []

Every sink of the flow is replaced by an in-memory capture (nothing is written, no broker is
needed). The format is documented in ``docs/rules.md``. The command prints one line per test,
a diff for each failure, and ``N passed, N failed``; it exits 1 when a test failed.

One module per job: :mod:`.cases` (what a test is), :mod:`.reader` (reading a test file),
:mod:`.inputs` (the source that feeds a test's messages), :mod:`.rewire` (the flow under
test), :mod:`.run` (running one test), :mod:`.judge` (comparing and explaining), :mod:`.cli`
(the command). None of them knows a node type: a source that can replay a capture says so
(:meth:`flowengine.node.Source.replay_config`).
"""

from __future__ import annotations

from flowengine.flowtest.cases import Observed, Outcome, Step, TestCase, TestFileError
from flowengine.flowtest.cli import discover, main
from flowengine.flowtest.judge import first_difference, same
from flowengine.flowtest.reader import read_test_file
from flowengine.flowtest.run import run_case

__all__ = [
    "Observed",
    "Outcome",
    "Step",
    "TestCase",
    "TestFileError",
    "discover",
    "first_difference",
    "main",
    "read_test_file",
    "run_case",
    "same",
]
