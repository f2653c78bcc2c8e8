"""Where the suite's own servers are, as AUTOMMATE_MAIL_ALLOWED_DESTINATIONS allows them."""

from __future__ import annotations

# Public addresses stay allowed, as by default; the loopback addresses are named, as an operator
# names a relay on the same machine.
LOOPBACK_DESTINATIONS = "public,127.0.0.0/8,::1"
