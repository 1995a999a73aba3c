"""AWS Bedrock: Converse / ConverseStream for chat, InvokeModel for Titan and Cohere embeddings.

No AWS SDK client inside: requests are built here and signed with SigV4 through ``botocore``
(the ``bedrock`` extra, ``pip install aiguard[bedrock]``), which also resolves credentials
through the standard chain (environment, shared config/profile, SSO, container and instance
roles). Resolving or refreshing credentials can touch the network (instance metadata, STS),
so ``auth_headers()`` returns an ``Io`` effect when that is due; signing itself is pure.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from .._effects import HttpRequest, Io, RawResponse
from .._types import ChatRequest, ChatResponse, EmbeddingRequest, EmbeddingResponse, Usage
from ..errors import ConfigError, MissingCredentialsError, ProviderError
from ._base import (
    Capabilities,
    Provider,
    error_body,
    load_json,
    register_provider,
)
from ._bedrock_codec import (
    BedrockStreamDecoder,
    decode_converse,
    encode_converse,
    error_for_exception,
)
from ._codec_util import SHAPE_ERRORS, shape_error
from ._json import dumps

__all__ = ["Bedrock"]

_CREDENTIALS_HINT = "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or an AWS profile or role)"


def _botocore() -> Any:
    try:
        import botocore.auth
        import botocore.awsrequest
        import botocore.credentials
        import botocore.session
    except ImportError:
        raise ConfigError(
            "the Bedrock provider signs requests with botocore: pip install 'aiguard[bedrock]'"
        ) from None
    return botocore


@register_provider
class Bedrock(Provider):
    """A Bedrock model (``anthropic.claude-3-5-haiku-20241022-v1:0``, an inference profile
    such as ``us.meta.llama3-3-70b-instruct-v1:0``, or an ARN) in one AWS region.

    Credentials, in order: ``aws_access_key_id``/``aws_secret_access_key``
    (/``aws_session_token``), ``profile``, else botocore's default chain. ``region`` defaults
    to the chain's region (``AWS_REGION``...). ``base_url`` overrides the regional host
    (VPC endpoints, tests); signing still uses ``region``.
    """

    name = "bedrock"

    def __init__(
        self,
        model: str,
        *,
        region: str | None = None,
        aws_access_key_id: str | None = None,
        aws_secret_access_key: str | None = None,
        aws_session_token: str | None = None,
        profile: str | None = None,
        base_url: str | None = None,
        timeout: float | None = None,
        headers: Mapping[str, str] | None = None,
        capabilities: Capabilities | None = None,
    ) -> None:
        if (aws_access_key_id is None) != (aws_secret_access_key is None):
            raise ConfigError(
                "Bedrock: pass both aws_access_key_id and aws_secret_access_key, or neither"
            )
        self._session: Any = None
        if region is None:
            region = self._boto_session(profile).get_config_variable("region")
            if not region:
                raise ConfigError("Bedrock needs a region: pass region=... or set AWS_REGION")
        super().__init__(
            model=model,
            base_url=base_url or f"https://bedrock-runtime.{region}.amazonaws.com",
            timeout=timeout,
            headers=headers,
            capabilities=capabilities
            or Capabilities(
                json_mode=False,
                json_schema=False,
                embeddings=model.startswith(("amazon.titan-embed", "cohere.embed")),
            ),
        )
        self.region = region
        self.profile = profile
        self._static = (
            (aws_access_key_id, aws_secret_access_key, aws_session_token)
            if aws_access_key_id and aws_secret_access_key
            else None
        )
        self._creds: Any = None
        self._lock = threading.Lock()
        self._model_path = quote(model, safe="")

    def __repr__(self) -> str:
        return f"Bedrock(model={self.model!r}, region={self.region!r})"

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "region": self.region}

    # -- credentials --------------------------------------------------------------------------

    def _boto_session(self, profile: str | None) -> Any:
        if self._session is None:
            bc = _botocore()
            self._session = (
                bc.session.Session(profile=profile) if profile else (bc.session.get_session())
            )
        return self._session

    def _resolve(self, endpoint: str | None = None) -> dict[str, str]:
        """Find (first call) or refresh credentials; may block on STS or instance metadata."""
        bc = _botocore()
        with self._lock:  # a burst of first calls walks the chain (and IMDS) once
            creds = self._creds
            if creds is None:
                if self._static is not None:
                    creds = bc.credentials.Credentials(*self._static)
                else:
                    creds = self._boto_session(self.profile).get_credentials()
                    if creds is None:
                        raise MissingCredentialsError(self.name, _CREDENTIALS_HINT, endpoint)
                self._creds = creds
        creds.get_frozen_credentials()  # refreshes when due (botocore locks that itself)
        return {}

    def auth_headers(self, endpoint: str | None = None) -> dict[str, str] | Io:
        creds = self._creds
        if creds is not None:
            due = getattr(creds, "refresh_needed", None)
            if due is None or not due():
                return {}

        async def aresolve() -> dict[str, str]:
            return await asyncio.to_thread(self._resolve, endpoint)

        return Io(lambda: self._resolve(endpoint), aresolve)

    def invalidate_credentials(self, auth: Mapping[str, str] | None = None) -> bool:
        """After a 403/401 (expired token): forget the credentials so they are resolved again."""
        if self._static is not None:
            return False
        # a new session: botocore caches resolved credentials on the session itself
        self._creds = self._session = None
        return True

    def _signed(self, url: str, body: bytes, accept: str) -> HttpRequest:
        bc = _botocore()
        if self._creds is None:
            self._resolve()
        headers = {"content-type": "application/json", "accept": accept}
        headers.update(self._extra_headers)
        req = bc.awsrequest.AWSRequest(method="POST", url=url, data=body, headers=headers)
        frozen = self._creds.get_frozen_credentials()
        bc.auth.SigV4Auth(frozen, "bedrock", self.region).add_auth(req)
        return HttpRequest("POST", url, dict(req.headers.items()), body, self.timeout)

    # -- chat ---------------------------------------------------------------------------------

    def build_chat(
        self, request: ChatRequest, *, stream: bool, auth: Mapping[str, str]
    ) -> HttpRequest:
        op = "converse-stream" if stream else "converse"
        url = f"{self.base_url}/model/{self._model_path}/{op}"
        accept = "application/vnd.amazon.eventstream" if stream else "application/json"
        return self._signed(url, dumps(encode_converse(request)), accept)

    def parse_chat(self, response: RawResponse) -> ChatResponse:
        return decode_converse(load_json(response, self.name), provider=self.name)

    def stream_decoder(self) -> BedrockStreamDecoder:
        return BedrockStreamDecoder(self.name)

    def request_id(self, headers: Mapping[str, str]) -> str | None:
        # x-request-id: what gateways and VPC proxies in front of Bedrock add
        return (
            headers.get("x-amzn-requestid")
            or headers.get("x-amzn-RequestId")
            or headers.get("x-request-id")
        )

    def classify_error(self, response: RawResponse) -> ProviderError:
        body = error_body(response.content)
        message = ""
        if isinstance(body, dict):
            message = str(body.get("message") or body.get("Message") or "")
        kind = str(
            response.headers.get("x-amzn-errortype")
            or response.headers.get("x-amzn-ErrorType")
            or (body.get("__type") if isinstance(body, dict) else "")
            or ""
        )
        kind = kind.split(":", 1)[0].rsplit("#", 1)[-1]
        return error_for_exception(
            kind,
            message or f"HTTP {response.status_code}",
            response.status_code,
            self.name,
            **self._error_facts(response),
        )

    # -- embeddings (InvokeModel) -------------------------------------------------------------

    def build_embed(self, request: EmbeddingRequest, *, auth: Mapping[str, str]) -> HttpRequest:
        """Titan takes one text per call; Cohere a batch (``input_type`` via ``extra``)."""
        if self.model.startswith("cohere.embed"):
            body: dict[str, Any] = {
                "texts": list(request.inputs),
                "input_type": "search_document",
            }
        else:
            if len(request.inputs) != 1:
                raise ConfigError(
                    f"Bedrock model {self.model!r} embeds one text per request "
                    f"(got {len(request.inputs)}): embed them one by one or use cohere.embed-*"
                )
            body = {"inputText": request.inputs[0]}
            if request.dimensions is not None:
                body["dimensions"] = request.dimensions
        if request.extra:
            body.update(request.extra)
        url = f"{self.base_url}/model/{self._model_path}/invoke"
        return self._signed(url, dumps(body), "application/json")

    def parse_embed(self, response: RawResponse) -> EmbeddingResponse:
        body = load_json(response, self.name)
        try:
            if "embedding" in body:  # Titan
                vectors: tuple[tuple[float, ...], ...] = (
                    tuple(float(x) for x in body["embedding"]),
                )
                tokens = int(body.get("inputTextTokenCount") or 0)
                return EmbeddingResponse(
                    vectors=vectors, usage=Usage(input_tokens=tokens), model=self.model
                )
            emb = body["embeddings"]  # Cohere: a list, or {"float": [...]} by embedding type
            rows = emb["float"] if isinstance(emb, dict) else emb
            vectors = tuple(tuple(float(x) for x in row) for row in rows)
            return EmbeddingResponse(vectors=vectors, usage=Usage(estimated=True), model=self.model)
        except SHAPE_ERRORS as e:
            raise shape_error("InvokeModel embeddings", e, self.name) from e
