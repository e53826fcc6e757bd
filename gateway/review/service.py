"""The review queue's place in the gateway: store + intake built in ``create_app``, migrated at start-up."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

import anyio

from gateway.review import api, ui
from gateway.review.intake import ReviewIntake
from gateway.review.store import ReviewStore

log = logging.getLogger(__name__)


@dataclass
class ReviewService:
    store: ReviewStore
    intake: ReviewIntake
    metrics_interval_s: float = 15.0
    _refresher: asyncio.Task[None] | None = field(default=None, init=False)

    @classmethod
    def build(cls, settings: Any) -> ReviewService | None:
        """Cheap: the engine connects lazily; ``start`` (lifespan) runs the migrations."""
        review = settings.review
        if not review.enabled:
            return None
        store = ReviewStore(review.url(settings.home), lease_s=review.claim_lease_s)
        return cls(store, ReviewIntake(store, review), review.metrics_interval_s)

    def install(self, app: Any) -> None:
        """Routes (API and UI) and ``app.state.review_store``."""
        app.state.review_store = self.store
        app.include_router(api.router)
        ui.install(app)
        default_openapi = app.openapi

        def openapi() -> dict[str, Any]:
            return api.document_schemas(default_openapi())

        app.openapi = openapi

    def attach(self, pipeline: Any) -> None:
        pipeline.review = self.intake

    async def start(self) -> None:
        await anyio.to_thread.run_sync(self.store.migrate)
        log.info("review store ready", extra={"dialect": self.store.dialect})
        await anyio.to_thread.run_sync(self.store.refresh_gauges)
        if self.metrics_interval_s > 0:
            self._refresher = asyncio.create_task(self._refresh_gauges())

    async def stop(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
        await anyio.to_thread.run_sync(self.store.close)

    async def _refresh_gauges(self) -> None:
        # The oldest pending item ages with no write to the store: refresh on a timer too.
        while True:
            await asyncio.sleep(self.metrics_interval_s)
            await anyio.to_thread.run_sync(self.store.refresh_gauges)
