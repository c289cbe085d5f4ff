"""Micro-batching: pack intents sharing a batch key into provider-call-sized batches."""

from consumer.batching.batcher import Batcher, batch_key

__all__ = ["Batcher", "batch_key"]
