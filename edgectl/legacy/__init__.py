"""Cutover from the legacy chan_sip servers (GV1P/GV2P/GV3P, issue 14).

* :mod:`.parse` reads one server's ``/etc/asterisk`` tree (a directory or a
  tarball, read into memory first) into plain values -- pure, ``file:line``
  errors;
* :mod:`.plan` turns a parsed server into the rows the edge needs (tenants,
  ranges, devices with their legacy identities, ring groups, exceptions) and
  the dry-run report;
* :mod:`.store` applies plans to PostgreSQL in one transaction (re-run is a
  no-op, undo restores the previous plan) and keeps the ``imports`` record;
* :mod:`.verify` compares the legacy dialplan's decisions with the edge's;
* :mod:`.cli` is the ``edgectl import`` command family.
"""
