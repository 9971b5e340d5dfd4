"""The test kit: what the test suite and the load kit (loadtest/) both use to
run private stacks on this host -- free ports, ephemeral configs, a scratch
Redis. Not part of the product: nothing under edgecore/ or edgectl/ imports
it."""
