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
        emb = self.embed_dropout(self.embedding(ids))                # (N, L, D): the layer attributions see
        present = ids != 0
        if len(ids) == 0 or ids.shape[1] == 0:
            return self.fc(self.dropout(self._features(emb.transpose(1, 2), present.unsqueeze(1).float())))
        # Padding follows the text and changes nothing (masked, zero embedding, the convolutions' own zero
        # padding), so each group of similar-length texts is convolved only up to its longest text: most
        # reviews are far shorter than max_tokens, and a typed sentence or a template is a few words.
        positions = torch.arange(1, ids.shape[1] + 1, device=ids.device)
        lengths = (present * positions).amax(dim=1).clamp(min=1)
        order = torch.argsort(lengths, stable=True)
        # One gather, then torch.split: the backward pass stays O(N x L x D) in all (a slice of the whole
        # batch would allocate a batch-sized gradient per group).
        pieces = zip(emb.index_select(0, order).split(self.LENGTH_BUCKET), present[order].split(self.LENGTH_BUCKET),
                     lengths[order].split(self.LENGTH_BUCKET))
        parts = []
        for e, p, n in pieces:
            n = int(n[-1])
            parts.append(self._features(e[:, :n].transpose(1, 2), p[:, :n].unsqueeze(1).to(torch.float32)))
        feats = torch.cat(parts).index_select(0, torch.argsort(order))
        return self.fc(self.dropout(feats))

    # Texts convolved together (sorted by length); each group pays for its longest.
    LENGTH_BUCKET = 64

    def _features(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Pooled features of embedded texts ``x`` (B, D, L) with ``mask`` (B, 1, L)."""
        pooled = [(relu(conv(x)) * mask).amax(dim=2) for conv, relu in zip(self.convs, self.relus)]
        mean = (x * mask).sum(dim=2) / mask.sum(dim=2).clamp(min=1.0)
        return torch.cat(pooled + [mean], dim=1)
