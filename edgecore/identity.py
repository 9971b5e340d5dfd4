"""The caller as the callee sees it: a number the callee can dial back, and
the device's display name.

Owned here (pure, no I/O) because three places must agree on it: the From and
P-Asserted-Identity of the INVITE a device receives (kemi/identity.py), the
headers a media-pool member presents on the legs it rings back
(edgecore/pool.py), and the CDR. A device's auth username
(``000037001``) is never shown: dialled back it is not a number (404).

Redialable means: the string, dialled by the callee, resolves to the caller
(edgecore/numbering.py):

* same tenant -- the extension (``7001``), a number of the callee's own tenant;
* across tenants -- ``TENANT*EXT`` (``00003*7001``), the tenant-qualified form,
  which resolves from any tenant; a device on a global number (a number in a
  global range of its tenant) is shown by that number, which resolves from
  any tenant too. Whether the callee is *allowed* to call back is the dialing
  policy's business, as for any call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# RFC 3261 25.1 quoted-string: a display name is sent quoted; a quote or a
# backslash inside would need escaping and control characters are not
# allowed -- they are dropped, as are characters that break a dialplan
# argument on the media member (',', '|'). Bounded like devices.display_name.
_UNSAFE = re.compile(r'["\\,|\x00-\x1f\x7f]')
NAME_MAX = 100


@dataclass(frozen=True)
class Presented:
    number: str          # user part of From / PAI
    name: str            # display name ("" when the device has none)

    def name_addr(self, host: str) -> str:
        """A From/P-Asserted-Identity value (RFC 3261 20.20, RFC 3325 9.1)."""
        uri = f"<sip:{self.number}@{host}>"
        return f'"{self.name}" {uri}' if self.name else uri


def display_name(raw: str | None) -> str:
    return _UNSAFE.sub("", raw or "").strip()[:NAME_MAX]


def presented(caller_tenant: str, caller_extension: str, caller_name: str | None,
              callee_tenant: str | None, global_number: bool = False) -> Presented:
    """The caller's identity for a callee of ``callee_tenant`` (None: not a
    tenant's number -- presented as across tenants)."""
    if callee_tenant == caller_tenant or global_number:
        number = caller_extension
    else:
        number = f"{caller_tenant}*{caller_extension}"
    return Presented(number, display_name(caller_name))
