"""The JSON API (`/api/v1/`), by concern.

- `conventions` — what every domain router shares: the error body, documented failures, paging.
- `parsing` — JSON bodies only, and no text a database would refuse.
- `auth` — who is calling: personal API tokens or the browser session with CSRF.
- `docs` — the self-hosted documentation page.
- `errors` — every failure as the one JSON body.
- `responses` — that body, for pages and health checks too, without django-ninja.
- `site` — the NinjaAPI itself, its routers and its URLs.
- `ninja_setup` — django-ninja loaded without Django's test framework, with shared response models.

This module imports none of them, so a domain router can import `conventions` without pulling in
the whole API.
"""
