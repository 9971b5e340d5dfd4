"""The test kit: what the test suite (tests/) and the load kit (loadtest/)
both use to run and drive private stacks on this host -- free ports and
ephemeral configs (ports, stacks), a scratch Redis (stacks), the edge under
test (edge) and a raw SIP client with digest (sipmsg). Not part of the
product: nothing under edgecore/, edgestore/ or edgectl/ imports it.
tests/harness keeps what only the suite uses (SIPp and baresip drivers,
browsers, network namespaces, fuzzing, legacy trees)."""
