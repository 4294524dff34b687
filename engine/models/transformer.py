"""The 1-layer transformer of Nanda et al. (2023) for (a + b) mod p, with a fast forward."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class OneLayerTransformer(nn.Module):
    """Attention-only-then-MLP block with no LayerNorm and no attention biases (paper code).

    `forward` returns the last position's logits only, computed without the work the loss
    never reads: the query and the `=` token's key and value are the same for every example,
    and the MLP and unembedding run on the last position alone. `forward_all` is the plain
    computation over every position; a test holds the two to 1e-5.
    """

    def __init__(self, p: int, d_model: int = 128, n_heads: int = 4, d_mlp: int = 512) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError("d_model must be a multiple of n_heads")
        d_head = d_model // n_heads
        d_vocab = p + 1
        self.p, self.n_heads, self.d_head = p, n_heads, d_head
        scale = 1 / math.sqrt(d_model)
        self.W_E = nn.Parameter(torch.randn(d_vocab, d_model) * scale)
        self.W_pos = nn.Parameter(torch.randn(3, d_model) * scale)
        self.W_Q = nn.Parameter(torch.randn(n_heads, d_model, d_head) * scale)
        self.W_K = nn.Parameter(torch.randn(n_heads, d_model, d_head) * scale)
        self.W_V = nn.Parameter(torch.randn(n_heads, d_model, d_head) * scale)
        self.W_O = nn.Parameter(torch.randn(n_heads * d_head, d_model) * scale)
        self.W_in = nn.Parameter(torch.randn(d_model, d_mlp) * scale)
        self.b_in = nn.Parameter(torch.zeros(d_mlp))
        self.W_out = nn.Parameter(torch.randn(d_mlp, d_model) * (1 / math.sqrt(d_mlp)))
        self.b_out = nn.Parameter(torch.zeros(d_model))
        self.W_U = nn.Parameter(torch.randn(d_model, p) * (1 / math.sqrt(d_vocab)))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        h, dh = self.n_heads, self.d_head
        vocab, d = self.W_E.shape
        eq = self.W_E[self.p] + self.W_pos[2]  # the last position's residual: one vector
        q = torch.einsum("d,hde->he", eq, self.W_Q)  # [h, dh], shared by every example
        k_eq = torch.einsum("d,hde->he", eq, self.W_K)
        v_eq = torch.einsum("d,hde->he", eq, self.W_V)
        # Scores and values of positions 0 and 1 depend only on the token there: tabulate them
        # over the vocabulary (p+1 rows per position, one matrix) and gather rows, instead of
        # projecting every example.
        kq = torch.einsum("hde,he->dh", self.W_K, q)  # [d, h]
        w_v = self.W_V.permute(1, 0, 2).reshape(d, h * dh)  # [d, h*dh], heads side by side
        table = torch.cat([self.W_E + self.W_pos[0], self.W_E + self.W_pos[1]])  # [2V, d]
        tabulated = table @ torch.cat([kq, w_v], dim=1)  # [2V, h + h*dh]: scores, then values
        n = tokens.shape[0]  # not len(): torch.export keeps it symbolic (a dynamic batch)
        at_a = tabulated.index_select(0, tokens[:, 0])
        at_b = tabulated.index_select(0, tokens[:, 1] + vocab)
        scale = 1 / math.sqrt(dh)
        # [3, n, h]: a softmax over the first dim is vectorised over n*h; over a last dim of 3
        # it is not (several times slower).
        scores = torch.stack([at_a[:, :h], at_b[:, :h], (k_eq * q).sum(-1).expand(n, h)]) * scale
        weights = scores.softmax(dim=0).unsqueeze(-1)  # [3, n, h, 1]
        z = (
            weights[0] * at_a[:, h:].view(n, h, dh)
            + weights[1] * at_b[:, h:].view(n, h, dh)
            + weights[2] * v_eq
        )  # [n, h, dh]
        resid = torch.addmm(eq, z.reshape(n, h * dh), self.W_O)  # biases added inside the GEMMs
        hidden = F.relu(torch.addmm(self.b_in, resid, self.W_in))
        resid = resid + torch.addmm(self.b_out, hidden, self.W_out)
        return resid @ self.W_U

    def forward_all(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logits at every position, computed the plain way: [n, 3, p]."""
        n, pos = tokens.shape
        resid = self.W_E[tokens] + self.W_pos[:pos]  # [n, 3, d]
        q = torch.einsum("npd,hde->nhpe", resid, self.W_Q)
        k = torch.einsum("npd,hde->nhpe", resid, self.W_K)
        v = torch.einsum("npd,hde->nhpe", resid, self.W_V)
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.d_head)
        mask = torch.ones(pos, pos, dtype=torch.bool, device=tokens.device).triu(1)
        scores = scores.masked_fill(mask, float("-inf"))
        z = scores.softmax(-1) @ v  # [n, h, 3, dh]
        z = z.permute(0, 2, 1, 3).reshape(n, pos, self.n_heads * self.d_head)
        resid = resid + z @ self.W_O
        resid = resid + F.relu(resid @ self.W_in + self.b_in) @ self.W_out + self.b_out
        return resid @ self.W_U
