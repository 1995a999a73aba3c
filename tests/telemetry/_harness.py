"""A client with the telemetry stage, against a scripted in-process server, sync or async."""

from __future__ import annotations

import asyncio
from typing import Any

import aiguard
from aiguard._call import Endpoint
from aiguard.providers import OpenAI
from aiguard.telemetry import AuditLog, AuditSink, SQLiteAuditStore, Telemetry
from aiguard.telemetry._stage import TelemetryStage

from ._fakes import FakeClock, Otel
from ._wire import PlanRouter, Script

KEY = "sk-test-" + "0123456789abcdef" * 2  # built at run time, never a real credential


class Harness:
    def __init__(
        self,
        otel: Otel,
        clock: FakeClock,
        store: SQLiteAuditStore,
        kind: str,
        *,
        capture_content: bool = False,
        sinks: tuple[AuditSink, ...] = (),
        sdk: bool = True,
    ) -> None:
        self.otel = otel
        self.store = store
        self.kind = kind
        self.script = Script()
        self.log = AuditLog((store, *sinks))
        # Without ``sdk`` the process's global providers are used, and the tests never install
        # any: the audit log is then all the telemetry a call has.
        self.tel = Telemetry(
            tracer_provider=otel.tracer_provider if sdk else None,
            meter_provider=otel.meter_provider if sdk else None,
            audit=self.log,
            clock=clock.time,
            timer=clock.timer,
            capture_content=capture_content,
        )
        self.endpoints = {
            "cloud-llm": OpenAI(model="gpt-4o-mini", api_key=KEY),
            "backup-llm": OpenAI(
                model="gpt-4o", api_key=KEY, base_url="https://backup.example:8443/v1"
            ),
        }

    def stages(self, **extra: Any) -> dict[str, Any]:
        return {"telemetry": TelemetryStage(self.tel), **extra}

    def chat(self, text: str, *, model: str = "cloud-llm", **stages: Any) -> Any:
        return self._run(text, model, False, stages)

    def embed(self, inputs: list[str], *, model: str = "cloud-llm") -> Any:
        if self.kind == "sync":
            with aiguard.Client(
                self.endpoints, http_client=self.script.sync_client(), stages=self.stages()
            ) as client:
                return client.embed(inputs, model=model)

        async def go() -> Any:
            async with aiguard.AsyncClient(
                self.endpoints, http_client=self.script.async_client(), stages=self.stages()
            ) as client:
                return await client.embed(inputs, model=model)

        return asyncio.run(go())

    def stream(self, text: str, *, model: str = "cloud-llm", **stages: Any) -> Any:
        return self._run(text, model, True, stages)

    def _run(self, text: str, model: str, stream: bool, stages: dict[str, Any]) -> Any:
        ctx = {"user": "u-42", "tenant": "acme", "region": "EU"}
        if self.kind == "sync":
            with aiguard.Client(
                self.endpoints, http_client=self.script.sync_client(), stages=self.stages(**stages)
            ) as client:
                if not stream:
                    return client.chat(text, model=model, context=ctx)
                with client.stream(text, model=model, context=ctx) as s:
                    for _ in s:
                        pass
                return s.response

        async def go() -> Any:
            async with aiguard.AsyncClient(
                self.endpoints,
                http_client=self.script.async_client(),
                stages=self.stages(**stages),
            ) as client:
                if not stream:
                    return await client.chat(text, model=model, context=ctx)
                async with client.stream(text, model=model, context=ctx) as s:
                    async for _ in s:
                        pass
                return s.response

        return asyncio.run(go())

    def rows(self) -> list[Any]:
        assert self.log.flush(10)
        return list(self.store.records())

    def plan(self, *names: str) -> PlanRouter:
        return PlanRouter([Endpoint(n, self.endpoints[n]) for n in names])
