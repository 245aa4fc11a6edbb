"""A static embedding distilled from all-MiniLM-L6-v2, for ingesting whole corpora on a CPU.

MiniLM costs about 3 GFLOP per 120-word passage: SIGHT's 14,000 passages and 15,784 comments are more than
half an hour of this machine's two cores. Following Model2Vec (Tulkens and van Dongen, 2024), each WordPiece
token of MiniLM's vocabulary is passed through MiniLM once on its own (``[CLS] token [SEP]``, mean-pooled as
the sentence model does), the vectors are reduced by PCA and weighted by the token's frequency rank (Zipf),
and a text's vector is the mean of its tokens' vectors, normalised. Embedding is then a table look-up: tens
of thousands of texts a second. The table is built once from the bundled model
(``python manage.py build_static_embedding``) and shipped as ``demo_data/static_minilm.npz``; nothing is
downloaded. See docs/decisions (datasets static embedding).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

STATIC_EMBEDDING_NAME = "static-minilm-l6-v1"  # bump when the table or the pooling changes
STATIC_TABLE = Path(__file__).resolve().parent / "demo_data" / "static_minilm.npz"
DIMENSIONS = 256


def static_table_build(*, batch_size: int = 512, dimensions: int = DIMENSIONS) -> dict[str, np.ndarray]:
    """Embed every vocabulary token through MiniLM, reduce by PCA, weight by Zipf rank (slow: minutes)."""
    import torch
    from sentence_transformers import SentenceTransformer

    from models_runtime.api import embedding_model_path

    model = SentenceTransformer(str(embedding_model_path()), device="cpu", local_files_only=True)
    tokenizer = model.tokenizer
    vocab = tokenizer.get_vocab()
    tokens = sorted(vocab, key=vocab.__getitem__)
    ids = np.asarray([vocab[t] for t in tokens])
    keep = [i for i, t in zip(ids, tokens, strict=True) if not (t.startswith("[unused") or t in ("[PAD]",))]
    transformer: Any = model[0].auto_model
    cls_id, sep_id = tokenizer.cls_token_id, tokenizer.sep_token_id
    vectors = np.zeros((len(vocab), 384), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(keep), batch_size):
            chunk = keep[start : start + batch_size]
            input_ids = torch.tensor([[cls_id, int(i), sep_id] for i in chunk])
            output = transformer(input_ids=input_ids, attention_mask=torch.ones_like(input_ids))
            vectors[chunk] = output.last_hidden_state.mean(dim=1).numpy()
    kept = vectors[keep]
    mean = kept.mean(axis=0)
    _, _, components = np.linalg.svd(kept - mean, full_matrices=False)
    reduced = np.zeros((len(vocab), dimensions), dtype=np.float32)
    reduced[keep] = (kept - mean) @ components[:dimensions].T
    # Zipf weighting: WordPiece ids are roughly ordered by frequency after the special and unused ones.
    rank = np.arange(len(vocab), dtype=np.float32) + 1
    reduced *= np.log(1 + rank)[:, None] / np.log(1 + rank).max()
    return {"vectors": reduced.astype(np.float16)}


@lru_cache(maxsize=1)
def _table() -> np.ndarray:
    with np.load(STATIC_TABLE) as data:
        return data["vectors"].astype(np.float32)


@lru_cache(maxsize=1)
def _tokenizer() -> Any:  # a tokenizers.Tokenizer
    from tokenizers import Tokenizer

    from models_runtime.api import embedding_model_path

    tokenizer = Tokenizer.from_file(str(embedding_model_path() / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


def static_embed(texts: list[str]) -> np.ndarray:
    """Unit-length static vectors, shape (len(texts), DIMENSIONS); an empty text gets zeros."""
    table = _table()
    out = np.zeros((len(texts), table.shape[1]), dtype=np.float32)
    if not texts:
        return out
    special = {0, 100, 101, 102, 103}  # [PAD] [UNK] [CLS] [SEP] [MASK]
    for row, encoding in enumerate(_tokenizer().encode_batch(texts, add_special_tokens=False)):
        ids = [i for i in encoding.ids if i not in special]
        if ids:
            vector = table[ids].mean(axis=0)
            norm = float(np.linalg.norm(vector))
            if norm > 0:
                out[row] = vector / norm
    return out
