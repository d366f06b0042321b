"""Word embeddings + a multi-width 1-D CNN with masked max-pooling (Kim, 2014), beside a
masked mean of the embeddings (a fastText-style bag-of-words branch)."""
from __future__ import annotations

import torch
from torch import nn


class TextCNN(nn.Module):
    """Input: token ids (N, L) with 0 as padding. Output: 2 logits (negative, positive).

    Positions past the text are masked before pooling and the padding
    embedding is zero, so a text's logits do not depend on how much padding
    follows it. ``embedding`` is the layer text attributions use.
    """

    def __init__(self, vocab_size: int, *, dim: int = 64, filters: int = 64, widths=(3, 5, 7),
                 num_classes: int = 2, dropout: float = 0.5, embed_dropout: float = 0.0) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, dim, padding_idx=0)
        self.convs = nn.ModuleList(nn.Conv1d(dim, filters, w, padding="same") for w in widths)
        self.relus = nn.ModuleList(nn.ReLU() for _ in widths)
        self.dropout = nn.Dropout(dropout)
        self.embed_dropout = nn.Dropout(embed_dropout)
        self.fc = nn.Linear(filters * len(widths) + dim, num_classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        mask = (ids != 0).unsqueeze(1).to(torch.float32)          # (N, 1, L)
        x = self.embed_dropout(self.embedding(ids)).transpose(1, 2)  # (N, D, L)
        pooled = [(relu(conv(x)) * mask).amax(dim=2) for conv, relu in zip(self.convs, self.relus)]
        mean = (x * mask).sum(dim=2) / mask.sum(dim=2).clamp(min=1.0)
        return self.fc(self.dropout(torch.cat(pooled + [mean], dim=1)))
