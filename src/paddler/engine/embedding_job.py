"""One embedding request being worked through, one planned batch of documents per engine step."""

from __future__ import annotations

from dataclasses import dataclass

from paddler.engine.plan_embedding_batches import EmbeddingBatchPlan
from paddler.engine.scheduler_command import GenerateEmbeddingBatchCommand


@dataclass(slots=True)
class EmbeddingJob:
    command: GenerateEmbeddingBatchCommand
    plan: EmbeddingBatchPlan
    next_batch: int = 0
    produced: int = 0

    @property
    def request_id(self) -> str:
        return self.command.request_id

    @property
    def finished(self) -> bool:
        return self.next_batch >= len(self.plan.batches)
