"""Azure OpenAI: OpenAI's wire format behind deployment URLs, an api-version and Azure auth.

The codec is OpenAI's (shared, not copied); what Azure changes is the URL
(``{endpoint}/openai/deployments/{deployment}/...?api-version=...``), the credential (an
``api-key`` header, or a Microsoft Entra ID bearer token) and one error: a prompt refused by
Azure's content filter is a 400 with code ``content_filter`` -> ``ContentFilteredError``.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from .._effects import HttpRequest, Io, RawResponse
from .._types import ChatRequest, EmbeddingRequest
from ..errors import ConfigError, ContentFilteredError, MissingCredentialsError, ProviderError
from ._auth import CallableTokenSource, TokenSource, bearer_headers, invalidate_from_auth
from ._base import Capabilities, register_provider
from .openai import _OpenAIWire

__all__ = ["AzureOpenAI"]

DEFAULT_API_VERSION = "2024-10-21"


@register_provider
class AzureOpenAI(_OpenAIWire):
    """A deployment of an Azure OpenAI resource.

    ``endpoint`` defaults to ``AZURE_OPENAI_ENDPOINT`` (``https://<resource>.openai.azure.com``).
    Credentials: ``token_provider`` (a callable returning an Entra ID token, e.g.
    ``azure.identity.get_bearer_token_provider(...)``, or any ``TokenSource``) wins over
    ``api_key``/``AZURE_OPENAI_API_KEY``. ``model`` names the underlying model for reporting and
    pricing; it defaults to the deployment name, and a config that names only ``model`` uses it
    as the deployment (``{"provider": "azure-openai", "model": "gpt-4o", ...}``).
    """

    name = "azure-openai"
    api_key_env = "AZURE_OPENAI_API_KEY"

    def __init__(
        self,
        deployment: str | None = None,
        *,
        endpoint: str | None = None,
        api_version: str = DEFAULT_API_VERSION,
        api_key: str | None = None,
        token_provider: Callable[[], str] | TokenSource | None = None,
        async_token_provider: Callable[[], Awaitable[str]] | None = None,
        model: str | None = None,
        timeout: float | None = None,
        headers: Mapping[str, str] | None = None,
        capabilities: Capabilities | None = None,
    ) -> None:
        endpoint = endpoint or os.environ.get("AZURE_OPENAI_ENDPOINT")
        if not endpoint:
            raise ConfigError(
                "AzureOpenAI needs endpoint=... or AZURE_OPENAI_ENDPOINT "
                "(https://<resource>.openai.azure.com)"
            )
        deployment = deployment or model
        if not deployment:
            raise ConfigError("AzureOpenAI: give the deployment name (deployment=... or model=...)")
        endpoint = endpoint.rstrip("/")
        super().__init__(
            model=model or deployment,
            base_url=f"{endpoint}/openai/deployments/{deployment}",
            api_key=api_key,
            timeout=timeout,
            headers=headers,
            capabilities=capabilities or Capabilities(embeddings=True),
        )
        self.endpoint = endpoint
        self.deployment = deployment
        self.api_version = api_version
        self._query = f"?api-version={api_version}"
        self._tokens: TokenSource | None
        if token_provider is None:
            self._tokens = None
        elif isinstance(token_provider, TokenSource):
            self._tokens = token_provider
        elif callable(token_provider):
            self._tokens = CallableTokenSource(token_provider, afunc=async_token_provider)
        else:
            raise ConfigError("AzureOpenAI: token_provider must be a callable or a TokenSource")

    def __repr__(self) -> str:
        return (
            f"AzureOpenAI(deployment={self.deployment!r}, endpoint={self.endpoint!r}, "
            f"api_version={self.api_version!r})"
        )

    def auth_headers(self, endpoint: str | None = None) -> dict[str, str] | Io:
        if self._tokens is not None:
            return bearer_headers(self._tokens)
        key = self._api_key or os.environ.get("AZURE_OPENAI_API_KEY")
        if not key:
            raise MissingCredentialsError(
                self.name, "AZURE_OPENAI_API_KEY (or pass token_provider=...)", endpoint
            )
        return {"api-key": key}

    def invalidate_credentials(self, auth: Mapping[str, str] | None = None) -> bool:
        """After a 401: drop the Entra token that failed; ``True`` when a retry may succeed."""
        if self._tokens is None:
            return False
        return invalidate_from_auth(self._tokens, auth)

    def build_chat(
        self, request: ChatRequest, *, stream: bool, auth: Mapping[str, str]
    ) -> HttpRequest:
        req = super().build_chat(request, stream=stream, auth=auth)
        req.url += self._query
        return req

    def build_embed(self, request: EmbeddingRequest, *, auth: Mapping[str, str]) -> HttpRequest:
        req = super().build_embed(request, auth=auth)
        req.url += self._query
        return req

    def request_id(self, headers: Mapping[str, str]) -> str | None:
        return headers.get("apim-request-id") or headers.get("x-request-id")

    def classify_error(self, response: RawResponse) -> ProviderError:
        err = super().classify_error(response)
        if response.status_code == 400 and b'"content_filter"' in response.content:
            filtered = ContentFilteredError(
                err.message,
                provider=err.provider,
                status_code=err.status_code,
                request_id=err.request_id,
                body_snippet=err.body_snippet,
            )
            return filtered
        return err

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "deployment": self.deployment}
