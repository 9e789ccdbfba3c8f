"""Embedding requests being worked through: each planned into batches of documents at admission, then
one batch decoded per engine step, round robin across requests, so embeddings interleave with generation.

A request whose reader is MAX_UNREAD_RESULTS or more results behind is skipped until it catches up: a
slow reader slows only its own request, and what waits for it stays bounded (not a whole batch of
10,000 vectors). Closing the stream (the client went away) cancels the job as before.
"""

from __future__ import annotations

import logging
from collections import deque

from paddler.engine.embedding_job import EmbeddingJob
from paddler.engine.engine_settings import EngineSettings
from paddler.engine.engine_stats import EngineCounters
from paddler.engine.model_runner import LlamaError, ModelRunner
from paddler.engine.normalize_embedding import normalize_embedding
from paddler.engine.plan_embedding_batches import plan_embedding_batches
from paddler.engine.scheduler_command import GenerateEmbeddingBatchCommand
from paddler.messages.embedding_result import (
    DocumentEmbedding,
    DocumentExceedsBatchSize,
    EmbeddingsDisabled,
    EmbeddingsDone,
    NoEmbeddingsProduced,
)
from paddler.messages.request_rejected import INTERNAL_ERROR, RequestRejected

logger = logging.getLogger(__name__)
MAX_UNREAD_RESULTS = 64


class EmbeddingJobs:
    def __init__(self, settings: EngineSettings, runner: ModelRunner, counters: EngineCounters) -> None:
        self._settings = settings
        self._runner = runner
        self._counters = counters
        self._jobs: deque[EmbeddingJob] = deque()

    def __len__(self) -> int:
        return len(self._jobs)

    def start(self, command: GenerateEmbeddingBatchCommand) -> None:
        if self._runner.embedding_context is None:
            command.stream.put(EmbeddingsDisabled())
            return
        n_batch = self._settings.n_batch
        limit = self._runner.max_document_tokens
        plan = plan_embedding_batches(
            [len(document.tokens) for document in command.documents],
            n_batch,
            min(self._settings.embedding_batch_sequences, n_batch),
            limit,
        )
        for document_index in plan.oversized:
            document = command.documents[document_index]
            command.stream.put(DocumentExceedsBatchSize(document.id, len(document.tokens), limit))
        job = EmbeddingJob(command, plan)
        if job.finished:
            self._end_completed(job)
        else:
            self._jobs.append(job)

    def runnable(self) -> bool:
        """Whether some job's reader has room for more results."""
        return any(self._has_room(job) for job in self._jobs)

    @staticmethod
    def _has_room(job: EmbeddingJob) -> bool:
        return job.command.stream.unread < MAX_UNREAD_RESULTS

    def step(self) -> None:
        """Decode the next batch of the first job whose reader has room, then send that job to the back."""
        for _ in range(len(self._jobs)):
            if self._has_room(self._jobs[0]):
                break
            self._jobs.rotate(-1)
        else:
            return
        job = self._jobs.popleft()
        documents = [job.command.documents[index] for index in job.plan.batches[job.next_batch]]
        job.next_batch += 1
        try:
            vectors = self._runner.embed([document.tokens for document in documents])
        except (LlamaError, RuntimeError):
            logger.exception("embedding batch failed")
            self._counters.requests_failed += 1
            job.command.stream.put(INTERNAL_ERROR)
            return
        normalization = job.command.normalization
        for document, vector in zip(documents, vectors, strict=True):
            job.command.stream.put(
                DocumentEmbedding(
                    document.id,
                    normalize_embedding(vector, normalization),
                    normalization,
                    self._settings.pooling_type,
                    len(document.tokens),
                )
            )
        job.produced += len(documents)
        self._counters.embedded_documents += len(documents)
        if job.finished:
            self._end_completed(job)
        else:
            self._jobs.append(job)

    def drop_cancelled(self, request_id: str) -> bool:
        for job in self._jobs:
            if job.request_id == request_id:
                # Its reader is gone: nothing is sent, and it counts as cancelled, not completed.
                self._jobs.remove(job)
                self._counters.requests_cancelled += 1
                return True
        return False

    def end_all(self, result: RequestRejected) -> None:
        while self._jobs:
            self._jobs.popleft().command.stream.put(result)

    def _end_completed(self, job: EmbeddingJob) -> None:
        if job.produced == 0 and job.command.documents:
            job.command.stream.put(NoEmbeddingsProduced())
        job.command.stream.put(EmbeddingsDone())
        self._counters.requests_completed += 1
