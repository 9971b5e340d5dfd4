"""Pure core of the SIP edge: the config schema, the read model's records, and
the decisions (number resolution, dialing policy, media, pool, guard
arithmetic, caches) shared by the KEMI routing code running inside Kamailio
and by the ``edgectl`` control plane.

No I/O: clients are passed in, and what talks to Redis is ``edgestore``
(tests/unit/test_edgecore_pure.py checks the imports).
"""
