"""``/__sandbox__/state``: shows a browser context's cookies and localStorage, then marks it.

A browser-isolation test loads it twice: in a fresh context ``#seen`` must not mention
``looqta_seen``; in a reused context it must.
"""

from __future__ import annotations

from aiohttp import web

from looqta.sandbox.markup import document

STATE_PATH = "/__sandbox__/state"

_SCRIPT = """
<script>
(function () {
  var seen = document.getElementById("seen");
  var storage = {};
  for (var i = 0; i < window.localStorage.length; i++) {
    var key = window.localStorage.key(i);
    storage[key] = window.localStorage.getItem(key);
  }
  seen.textContent = JSON.stringify({cookie: document.cookie, localStorage: storage});
  document.cookie = "looqta_seen=1; path=/; max-age=86400";
  window.localStorage.setItem("looqta_seen", "1");
  seen.setAttribute("data-done", "true");
})();
</script>
"""


async def _state(request: web.Request) -> web.Response:
    body = '<h1>Sandbox browser state</h1>\n<pre id="seen"></pre>' + _SCRIPT
    response = web.Response(text=document("Sandbox state", body), content_type="text/html")
    response.set_cookie("server_seen", "1", path="/", max_age=86400)
    response.headers["Cache-Control"] = "no-store"
    return response


def add_state_route(app: web.Application) -> None:
    app.router.add_get(STATE_PATH, _state)
