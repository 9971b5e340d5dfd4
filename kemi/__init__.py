"""Routing logic of the SIP edge, run by Kamailio's app_python3 (KEMI).

``edge.py`` is the entry Kamailio loads; its request route is a flat list of
steps, one module per concern (sanity, nat, keepalive, methods, auth,
registrar, ...). Each step is a function of the per-request :class:`Request`
that returns ``CONTINUE`` or ``STOP``. Decisions are made by the pure
functions of ``edgecore``; the steps only act through ``KSR``.
"""
