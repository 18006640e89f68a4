"""Dense retrieval with sentence-transformers. ``pooling='mean'`` builds a mean-pooled
encoder from a plain transformer (Contriever-style, e.g. ``facebook/contriever-msmarco``,
scored by dot product); the default uses the model's own sentence-transformers setup."""

import hashlib
from typing import Literal

import numpy as np

from tailor import logs
from tailor.data.schema import ProfileItem
from tailor.models import resolve_model
from tailor.retrieval.base import RankingCache, Retriever


class DenseRetriever(Retriever):
    def __init__(
        self,
        model: str = "all-minilm-l6-v2",
        cache: RankingCache | None = None,
        pooling: Literal["model", "mean"] = "model",
        normalize: bool = True,
        batch_size: int = 32,
        device: str | None = None,
    ):
        super().__init__(cache)
        from sentence_transformers import SentenceTransformer
        from sentence_transformers.sentence_transformer.modules import Pooling, Transformer

        logs.adopt_library_loggers()

        self.name = f"dense:{model}:{pooling}:{'cos' if normalize else 'dot'}"
        path = resolve_model(model)
        if pooling == "mean":
            word = Transformer(path)
            self.encoder = SentenceTransformer(modules=[word, Pooling(word.get_embedding_dimension(), pooling_mode="mean")], device=device)
        else:
            self.encoder = SentenceTransformer(path, device=device)
        self.normalize, self.batch_size = normalize, batch_size
        self._item_vectors: dict[str, np.ndarray] = {}  # text hash -> embedding, reused across questions

    def embed(self, texts: list[str]) -> np.ndarray:
        return self.encoder.encode(texts, batch_size=self.batch_size, normalize_embeddings=self.normalize, show_progress_bar=False, convert_to_numpy=True)

    def rank(self, query: str, profile: list[ProfileItem]) -> list[ProfileItem]:
        if len(profile) < 2:
            return list(profile)
        keys = [hashlib.sha1(p.text.encode()).hexdigest() for p in profile]
        missing = [i for i, key in enumerate(keys) if key not in self._item_vectors]
        if missing:
            for i, vector in zip(missing, self.embed([profile[i].text for i in missing])):
                self._item_vectors[keys[i]] = vector
        items = np.stack([self._item_vectors[key] for key in keys])
        scores = items @ self.embed([query])[0]
        order = sorted(range(len(profile)), key=lambda i: (-float(scores[i]), i))
        return [profile[i] for i in order]
