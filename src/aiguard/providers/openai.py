"""OpenAI and every server that speaks its chat-completions API."""

from __future__ import annotations

import os
from collections.abc import Mapping

from .._effects import HttpRequest, Io, RawResponse
from .._types import ChatRequest, ChatResponse, EmbeddingRequest, EmbeddingResponse
from ..errors import ConfigError, MissingCredentialsError
from ._auth import TokenSource, bearer_headers, invalidate_from_auth
from ._base import Capabilities, Provider, load_json, register_provider
from ._json import dumps
from ._openai_codec import (
    OpenAIStreamDecoder,
    decode_chat,
    decode_embeddings,
    encode_chat,
    encode_embeddings,
)

__all__ = ["OpenAI", "OpenAICompatible"]

_JSON = "application/json"
_REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5")


class _OpenAIWire(Provider):
    """The codec half shared by OpenAI and compatible servers."""

    include_usage: bool = True
    max_tokens_field: str = "max_tokens"

    def _headers(self, auth: Mapping[str, str]) -> dict[str, str]:
        h = {"content-type": _JSON, "accept": _JSON}
        h.update(self._extra_headers)
        h.update(auth)
        return h

    def build_chat(
        self, request: ChatRequest, *, stream: bool, auth: Mapping[str, str]
    ) -> HttpRequest:
        body = encode_chat(
            request,
            self.model,
            stream=stream,
            include_usage=self.include_usage,
            max_tokens_field=self.max_tokens_field,
        )
        headers = self._headers(auth)
        if stream:
            headers["accept"] = "text/event-stream"
        return HttpRequest(
            "POST", f"{self.base_url}/chat/completions", headers, dumps(body), self.timeout
        )

    def parse_chat(self, response: RawResponse) -> ChatResponse:
        return decode_chat(load_json(response, self.name), provider=self.name)

    def stream_decoder(self) -> OpenAIStreamDecoder:
        return OpenAIStreamDecoder(self.name)

    def build_embed(self, request: EmbeddingRequest, *, auth: Mapping[str, str]) -> HttpRequest:
        body = encode_embeddings(request, self.model)
        return HttpRequest(
            "POST", f"{self.base_url}/embeddings", self._headers(auth), dumps(body), self.timeout
        )

    def parse_embed(self, response: RawResponse) -> EmbeddingResponse:
        return decode_embeddings(load_json(response, self.name), provider=self.name)


@register_provider
class OpenAI(_OpenAIWire):
    """OpenAI's API. The key comes from ``api_key=`` or ``OPENAI_API_KEY`` at call time."""

    name = "openai"
    api_key_env = "OPENAI_API_KEY"

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None = None,
        base_url: str = "https://api.openai.com/v1",
        organization: str | None = None,
        project: str | None = None,
        timeout: float | None = None,
        headers: Mapping[str, str] | None = None,
        capabilities: Capabilities | None = None,
    ) -> None:
        extra = dict(headers or {})
        if organization:
            extra["openai-organization"] = organization
        if project:
            extra["openai-project"] = project
        super().__init__(
            model=model,
            base_url=base_url,
            api_key=api_key,
            timeout=timeout,
            headers=extra,
            capabilities=capabilities or Capabilities(embeddings=True),
        )
        if model.startswith(_REASONING_PREFIXES):
            self.max_tokens_field = "max_completion_tokens"

    def auth_headers(self, endpoint: str | None = None) -> dict[str, str]:
        return {"authorization": f"Bearer {self.api_key(endpoint)}"}


@register_provider
class OpenAICompatible(_OpenAIWire):
    """Any server speaking OpenAI's API: vLLM, Ollama's ``/v1``, LM Studio, Groq, Together...

    Quirks are flags rather than subclasses: ``api_key`` is optional (local servers rarely
    want one), ``auth_header`` names where it goes, ``token_source`` sends bearer tokens
    instead (an OAuth2-protected internal gateway: ``OAuth2ClientCredentials(...)``),
    ``include_usage=False`` for servers that reject ``stream_options``,
    ``max_tokens_field`` for servers that want ``max_completion_tokens``.
    """

    name = "openai-compatible"

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        api_key_env: str | None = None,
        auth_header: str = "authorization",
        token_source: TokenSource | None = None,
        include_usage: bool = True,
        max_tokens_field: str = "max_tokens",
        timeout: float | None = None,
        headers: Mapping[str, str] | None = None,
        capabilities: Capabilities | None = None,
    ) -> None:
        super().__init__(
            model=model,
            base_url=base_url,
            api_key=api_key,
            timeout=timeout,
            headers=headers,
            capabilities=capabilities or Capabilities(embeddings=True),
        )
        if token_source is not None and (api_key or api_key_env):
            raise ConfigError(
                "OpenAICompatible: give either token_source= (bearer tokens, e.g. OAuth2) "
                "or an API key, not both"
            )
        self._tokens = token_source
        self._key_env = api_key_env
        self._auth_header = auth_header.lower()
        self.include_usage = include_usage
        self.max_tokens_field = max_tokens_field

    def auth_headers(self, endpoint: str | None = None) -> dict[str, str] | Io:
        if self._tokens is not None:
            return bearer_headers(self._tokens)
        key = self._api_key
        if key is None and self._key_env:
            key = os.environ.get(self._key_env)
            if not key:
                raise MissingCredentialsError(self.name, self._key_env, endpoint)
        if not key:
            return {}
        if self._auth_header == "authorization":
            return {"authorization": f"Bearer {key}"}
        return {self._auth_header: key}

    def invalidate_credentials(self, auth: Mapping[str, str] | None = None) -> bool:
        """After a 401: drop the bearer token that failed; ``True`` when a retry may help."""
        if self._tokens is None:
            return False
        return invalidate_from_auth(self._tokens, auth)
