"""Pure core of the SIP edge: configuration, read-model layout, and the
decisions (number resolution, dialing policy) shared by the KEMI routing code
running inside Kamailio and by the ``edgectl`` control plane.

Nothing here performs I/O at import time; clients are passed in.
"""
