"""A fake OAuth2 token endpoint (client-credentials grant) that counts what it issues.

Install it on a ``FakeProvider`` to test outbound OAuth2 without an identity provider::

    with FakeProvider() as fake:
        tokens = FakeTokenEndpoint.install(fake, client_id="app", client_secret=secret)
        source = OAuth2ClientCredentials(tokens.url, "app", secret, scopes=["ai.read"])
        ...
        assert tokens.count == 1          # one fetch, however many concurrent calls

It follows RFC 6749 section 4.4: HTTP Basic or form client authentication, ``grant_type``
checked, ``{"access_token", "token_type", "expires_in", "scope"}`` answers and
``{"error": "invalid_client"}`` 401s. The route ignores the fake's scripts and faults, which
belong to the model calls.
"""

from __future__ import annotations

import base64
import threading
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, unquote

from ._wire import Body, Call, dumps

if TYPE_CHECKING:
    from ._fake import FakeProvider

__all__ = ["FakeTokenEndpoint"]


class FakeTokenEndpoint:
    """Issues ``fake-access-<n>`` tokens valid for ``expires_in`` seconds; counts requests.

    ``scopes`` and ``audiences`` record what each request asked for; ``fail_next(n)`` makes
    the next ``n`` requests answer 503 (an identity provider outage).
    """

    def __init__(
        self, client_id: str, client_secret: str, *, expires_in: int | None = 3600
    ) -> None:
        self.client_id = client_id
        self._secret = client_secret
        self.expires_in = expires_in
        self.count = 0
        self.issued: list[str] = []
        self.scopes: list[str | None] = []
        self.audiences: list[str | None] = []
        self.url = ""
        self._fail = 0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"FakeTokenEndpoint(url={self.url!r}, count={self.count})"

    @classmethod
    def install(
        cls,
        fake: FakeProvider,
        *,
        client_id: str,
        client_secret: str,
        path: str = "/oauth2/token",
        expires_in: int | None = 3600,
    ) -> FakeTokenEndpoint:
        endpoint = cls(client_id, client_secret, expires_in=expires_in)
        fake.add_route("POST", path, endpoint.handle, replies=False, faults=False)
        endpoint.url = fake.url + path
        return endpoint

    def fail_next(self, n: int = 1) -> None:
        with self._lock:
            self._fail += n

    def handle(self, call: Call) -> Body:
        req = call.request
        with self._lock:
            self.count += 1
            n = self.count
            failing = self._fail > 0
            if failing:
                self._fail -= 1
        if failing:
            return Body(503, dumps({"error": "temporarily_unavailable"}))
        form = dict(parse_qsl(req.body.decode("utf-8", "replace")))
        client_id, secret = form.get("client_id"), form.get("client_secret")
        auth = req.headers.get("authorization", "")
        if auth.startswith("Basic "):
            try:
                decoded = base64.b64decode(auth[6:]).decode()
            except ValueError:
                decoded = ""
            user, _, pw = decoded.partition(":")
            client_id, secret = unquote(user), unquote(pw)
        if client_id != self.client_id or secret != self._secret:
            return Body(401, dumps({"error": "invalid_client"}))
        if form.get("grant_type") != "client_credentials":
            return Body(400, dumps({"error": "unsupported_grant_type"}))
        with self._lock:
            self.scopes.append(form.get("scope"))
            self.audiences.append(form.get("audience"))
            token = f"fake-access-{n}"
            self.issued.append(token)
        out: dict[str, object] = {"access_token": token, "token_type": "Bearer"}
        if self.expires_in is not None:
            out["expires_in"] = self.expires_in
        if form.get("scope"):
            out["scope"] = form["scope"]
        return Body(200, dumps(out), headers={"cache-control": "no-store"})
