"""Google Gemini: the Gemini API (API key) and Vertex AI (regional endpoint, bearer token).

One codec (``_gemini_codec``) serves both; the classes differ in URL and credentials only.
Vertex tokens come from any ``TokenSource``: by default google-auth's application default
credentials (``pip install aiguard[google]``), or a fixed ``access_token``, or an OAuth2
client-credentials source for a gateway in front of Vertex.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from .._effects import HttpRequest, Io, RawResponse
from .._types import ChatRequest, ChatResponse, EmbeddingRequest, EmbeddingResponse
from ..errors import ConfigError, MissingCredentialsError, ProviderError
from ._auth import (
    GoogleAuthTokenSource,
    StaticToken,
    TokenSource,
    bearer_headers,
    invalidate_from_auth,
)
from ._base import (
    Capabilities,
    Provider,
    error_body,
    load_json,
    register_provider,
)
from ._gemini_codec import (
    GeminiStreamDecoder,
    decode_embeddings,
    decode_response,
    encode_chat,
    encode_embeddings,
    error_from_body,
)
from ._json import dumps

__all__ = ["Gemini", "VertexAI"]


class _GeminiWire(Provider):
    """The codec half Gemini and Vertex share; subclasses say where requests go."""

    def _model_url(self, method: str) -> str:
        raise NotImplementedError

    def _headers(self, auth: Mapping[str, str], *, stream: bool = False) -> dict[str, str]:
        h = {
            "content-type": "application/json",
            "accept": "text/event-stream" if stream else "application/json",
        }
        h.update(self._extra_headers)
        h.update(auth)
        return h

    def build_chat(
        self, request: ChatRequest, *, stream: bool, auth: Mapping[str, str]
    ) -> HttpRequest:
        url = (
            self._model_url("streamGenerateContent") + "?alt=sse"
            if stream
            else self._model_url("generateContent")
        )
        body = dumps(encode_chat(request))
        return HttpRequest("POST", url, self._headers(auth, stream=stream), body, self.timeout)

    def parse_chat(self, response: RawResponse) -> ChatResponse:
        return decode_response(load_json(response, self.name), provider=self.name)

    def stream_decoder(self) -> GeminiStreamDecoder:
        return GeminiStreamDecoder(self.name)

    def parse_embed(self, response: RawResponse) -> EmbeddingResponse:
        return decode_embeddings(load_json(response, self.name), provider=self.name)

    def classify_error(self, response: RawResponse) -> ProviderError:
        body = error_body(response.content)
        return error_from_body(body, response.status_code, self.name, **self._error_facts(response))

    def request_id(self, headers: Mapping[str, str]) -> str | None:
        return headers.get("x-goog-request-id") or headers.get("x-request-id")


@register_provider
class Gemini(_GeminiWire):
    """The Gemini API (``generativelanguage.googleapis.com``) with an API key.

    The key comes from ``api_key=``, else ``GEMINI_API_KEY``, else ``GOOGLE_API_KEY``; it is
    sent in the ``x-goog-api-key`` header, never in the URL (URLs end up in logs).
    """

    name = "gemini"
    api_key_env = "GEMINI_API_KEY"

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None = None,
        base_url: str = "https://generativelanguage.googleapis.com",
        api_version: str = "v1beta",
        timeout: float | None = None,
        headers: Mapping[str, str] | None = None,
        capabilities: Capabilities | None = None,
    ) -> None:
        model = model.removeprefix("models/")
        super().__init__(
            model=model,
            base_url=base_url,
            api_key=api_key,
            timeout=timeout,
            headers=headers,
            capabilities=capabilities or Capabilities(embeddings=True),
        )
        self.api_version = api_version

    def _model_url(self, method: str) -> str:
        return f"{self.base_url}/{self.api_version}/models/{self.model}:{method}"

    def api_key(self, endpoint: str | None = None) -> str:
        if self._api_key:
            return self._api_key
        for env in ("GEMINI_API_KEY", "GOOGLE_API_KEY"):
            value = os.environ.get(env)
            if value:
                return value
        raise MissingCredentialsError(self.name, "GEMINI_API_KEY (or GOOGLE_API_KEY)", endpoint)

    def auth_headers(self, endpoint: str | None = None) -> dict[str, str]:
        return {"x-goog-api-key": self.api_key(endpoint)}

    def build_embed(self, request: EmbeddingRequest, *, auth: Mapping[str, str]) -> HttpRequest:
        body = encode_embeddings(request, f"models/{self.model}")
        return HttpRequest(
            "POST",
            self._model_url("batchEmbedContents"),
            self._headers(auth),
            dumps(body),
            self.timeout,
        )


@register_provider
class VertexAI(_GeminiWire):
    """Gemini models on Vertex AI: ``{location}-aiplatform.googleapis.com``, bearer tokens.

    ``project`` defaults to ``GOOGLE_CLOUD_PROJECT``, ``location`` to ``GOOGLE_CLOUD_LOCATION``
    or ``us-central1`` (``"global"`` uses the global host). Credentials, in order:
    ``token_source=`` (any ``TokenSource``), ``access_token=`` (fixed), else google-auth's
    application default credentials. ``base_url`` replaces the host (private endpoints, tests).
    """

    name = "vertex"

    def __init__(
        self,
        model: str,
        *,
        project: str | None = None,
        location: str | None = None,
        token_source: TokenSource | None = None,
        access_token: str | None = None,
        base_url: str | None = None,
        publisher: str = "google",
        timeout: float | None = None,
        headers: Mapping[str, str] | None = None,
        capabilities: Capabilities | None = None,
    ) -> None:
        project = project or os.environ.get("GOOGLE_CLOUD_PROJECT")
        if not project:
            raise ConfigError(
                "VertexAI needs a project: pass project=... or set GOOGLE_CLOUD_PROJECT"
            )
        location = location or os.environ.get("GOOGLE_CLOUD_LOCATION") or "us-central1"
        host = (
            "https://aiplatform.googleapis.com"
            if location == "global"
            else f"https://{location}-aiplatform.googleapis.com"
        )
        super().__init__(
            model=model,
            base_url=base_url or host,
            timeout=timeout,
            headers=headers,
            capabilities=capabilities or Capabilities(embeddings=True),
        )
        self.project = project
        self.location = location
        self.publisher = publisher
        if token_source is not None and access_token is not None:
            raise ConfigError("VertexAI: pass token_source= or access_token=, not both")
        self._tokens: TokenSource = (
            token_source
            if token_source is not None
            else StaticToken(access_token)
            if access_token is not None
            else GoogleAuthTokenSource()
        )

    def __repr__(self) -> str:
        return (
            f"VertexAI(model={self.model!r}, project={self.project!r}, location={self.location!r})"
        )

    def _model_url(self, method: str) -> str:
        return (
            f"{self.base_url}/v1/projects/{self.project}/locations/{self.location}"
            f"/publishers/{self.publisher}/models/{self.model}:{method}"
        )

    def auth_headers(self, endpoint: str | None = None) -> dict[str, str] | Io:
        return bearer_headers(self._tokens)

    def invalidate_credentials(self, auth: Mapping[str, str] | None = None) -> bool:
        """After a 401: drop the token that failed; ``True`` when a retry may succeed."""
        return invalidate_from_auth(self._tokens, auth)

    def build_embed(self, request: EmbeddingRequest, *, auth: Mapping[str, str]) -> HttpRequest:
        params: dict[str, Any] = {}
        if request.dimensions is not None:
            params["outputDimensionality"] = request.dimensions
        body: dict[str, Any] = {"instances": [{"content": t} for t in request.inputs]}
        if params:
            body["parameters"] = params
        if request.extra:
            body.update(request.extra)
        return HttpRequest(
            "POST", self._model_url("predict"), self._headers(auth), dumps(body), self.timeout
        )

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "project": self.project, "location": self.location}
