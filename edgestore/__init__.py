"""The edge's Redis gateway: the read model's key layout, its function
library (``edge.lua``) and reads, the runtime protection state (bans, failed
authentications, call slots), registration counts, and the clients of every
edge process (single server or Sentinel).

What the data means and what to decide from it is :mod:`edgecore`'s (pure);
this package only moves it in and out of Redis, with the client passed in.
"""
