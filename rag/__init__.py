"""Retrieval-augmented grounding: offline embeddings, Chroma store, ingestion, numbered sources."""

from rag.base import Chunk, Retriever

__all__ = ["Chunk", "Retriever"]
