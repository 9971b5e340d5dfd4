"""Names the command line's parsers and the service layer share, in a module
that imports nothing heavy: the administrators' roles and the list pages'
limits (``edgectl.service`` re-exports them)."""

from __future__ import annotations

PROVIDER_ADMIN = "provider_admin"
TENANT_ADMIN = "tenant_admin"
READ_ONLY = "read_only"
ROLES = (PROVIDER_ADMIN, TENANT_ADMIN, READ_ONLY)

# list pages: the API's default and its ceiling
DEFAULT_LIMIT = 50
MAX_LIMIT = 500
