"""Test-only glue: SIPp, baresip and browser drivers, network namespaces,
fuzzing, generated legacy trees. What the load kit shares with the suite (the
Edge fixture, the raw SIP client, free ports) is in the test kit, testkit/."""
