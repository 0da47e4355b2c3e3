"""How a link opens the dashboard logged in.

Links carry the admin token in the URL *fragment* (``/dashboard#token=…``): browsers never
send a fragment to a server, so it stays out of access logs and proxies, and the page moves
it to sessionStorage and out of the address bar and history at once. ``/?token=…`` (links
printed by older versions) is redirected to that form instead of losing the token.
"""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse

DASHBOARD = "/dashboard"


def dashboard_link(base_url: str, token: str) -> str:
    """The link that opens the dashboard at ``base_url`` logged in with ``token``."""
    return f"{base_url.rstrip('/')}{DASHBOARD}#{urlencode({'token': token})}"


def dashboard_redirect(request: Request) -> RedirectResponse:
    """``/`` → ``/dashboard``, carrying a ``?token=`` over as the fragment."""
    token = request.query_params.get("token")
    target = dashboard_link("", token) if token else DASHBOARD
    return RedirectResponse(target, headers={"Cache-Control": "no-store"})
