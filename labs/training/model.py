"""m3 — the click model: an MLP over the dense features plus user and item embeddings.

    model = ClickModel(n_users=prep.users.size, n_items=prep.items.size, n_dense=11)
    logits = model(user, item, dense)        # (B,), (B,), (B, D) -> (B,)

The logit of a click is a sum of three parts:

    logit = MLP(dense) + b_user + b_item + ⟨e_user, e_item⟩

- ``MLP(dense)``: the store's features (recent clicks, CTRs, popularity),
  standardised, through ``hidden`` ReLU layers. This is where the session
  signal lives (``clicks_1h``).
- ``b_user``, ``b_item``: one learned scalar per id (a user's propensity, an
  item's static quality). Row 0 of every table is the out-of-vocabulary
  bucket shared by ids unseen in training.
- ``⟨e_user, e_item⟩``: a dot product of ``embed_dim``-dimensional
  embeddings, the user × item-category affinity.

Why are the embeddings *added* to the MLP's output rather than concatenated
to its input (the textbook design)? On ShopStream most clicks come from a
per-session intent. An MLP that sees ``e_user`` next to time-varying
features can memorise "this user, at this level of recent activity" and
the validation AUC collapses epoch after epoch, even with a strong penalty
on the embeddings: the MLP's weights can scale the embeddings back up. Added
on the logit scale, an embedding's effect is exactly its size, so the L2
penalty (:meth:`ClickModel.penalty`) bounds it. ``interaction="concat"``
builds the textbook version so the search in ``tune.py`` can show this.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn

Interaction = Literal["additive", "concat"]


class ClickModel(nn.Module):
    """``logit = MLP(dense) + b_user + b_item + ⟨e_user, e_item⟩`` (see the module doc).

    Args:
        n_users, n_items: embedding rows (vocabulary sizes, OOV row included).
        n_dense: dense features per row.
        embed_dim: size of ``e_user`` and ``e_item``.
        hidden: widths of the MLP's hidden ReLU layers, e.g. ``(64, 32)``.
        interaction: ``"additive"`` (default) or ``"concat"``: feed
            ``[e_user, e_item, dense]`` into the MLP instead of adding terms.
    """

    def __init__(
        self,
        n_users: int,
        n_items: int,
        n_dense: int,
        embed_dim: int = 8,
        hidden: Sequence[int] = (64, 32),
        interaction: Interaction = "additive",
    ):
        super().__init__()
        if min(n_users, n_items) < 1 or n_dense < 1 or embed_dim < 1:
            raise ValueError(
                f"need n_users, n_items, n_dense and embed_dim ≥ 1, got {n_users}, "
                f"{n_items}, {n_dense}, {embed_dim}."
            )
        if interaction not in ("additive", "concat"):
            raise ValueError(
                f"interaction must be 'additive' or 'concat', got {interaction!r}."
            )
        self.interaction = interaction
        # BEGIN SOLUTION m3: self.user_embedding, self.item_embedding (embed_dim wide, init N(0, 0.01)), self.user_bias, self.item_bias (width 1, init 0) and self.mlp (Linear+ReLU per hidden width, then Linear to 1)
        self.user_embedding = nn.Embedding(n_users, embed_dim)  # (U, E)
        self.item_embedding = nn.Embedding(n_items, embed_dim)  # (I, E)
        self.user_bias = nn.Embedding(n_users, 1)  # (U, 1)
        self.item_bias = nn.Embedding(n_items, 1)  # (I, 1)
        # Small vectors: the dot product starts near 0 and grows only where the
        # data pays for it; the biases start at exactly 0.
        nn.init.normal_(self.user_embedding.weight, std=0.01)
        nn.init.normal_(self.item_embedding.weight, std=0.01)
        nn.init.zeros_(self.user_bias.weight)
        nn.init.zeros_(self.item_bias.weight)
        width = n_dense + (2 * embed_dim if interaction == "concat" else 0)
        layers: list[nn.Module] = []
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU()]
            width = size
        layers.append(nn.Linear(width, 1))
        self.mlp = nn.Sequential(*layers)
        # END SOLUTION

    def forward(
        self, user: torch.Tensor, item: torch.Tensor, dense: torch.Tensor
    ) -> torch.Tensor:
        """Click logits.

        Args:
            user: embedding rows of the users, int64, shape ``(B,)``.
            item: embedding rows of the items, int64, shape ``(B,)``.
            dense: standardised features, float32, shape ``(B, D)``.

        Returns:
            Logits, shape ``(B,)``; ``torch.sigmoid`` gives probabilities.
        """
        # BEGIN SOLUTION m3: additive: MLP(dense) + user bias + item bias + dot(e_user, e_item); concat: MLP([e_user, e_item, dense]) + biases
        e_user = self.user_embedding(user)  # (B, E)
        e_item = self.item_embedding(item)  # (B, E)
        biases = self.user_bias(user).squeeze(1) + self.item_bias(item).squeeze(
            1
        )  # (B,)
        if self.interaction == "concat":
            inputs = torch.cat([e_user, e_item, dense], dim=1)  # (B, 2E + D)
            return self.mlp(inputs).squeeze(1) + biases
        return self.mlp(dense).squeeze(1) + biases + (e_user * e_item).sum(dim=1)
        # END SOLUTION

    def penalty(self, user: torch.Tensor, item: torch.Tensor) -> torch.Tensor:
        """Mean squared norm of the embedding rows a batch touches (a scalar).

        ``mean_b(‖e_u‖² + ‖e_i‖² + b_u² + b_i²)``: added to the loss times
        ``embed_l2``, it pulls the rows of the ids in the batch towards 0,
        in proportion to how often an id appears, as its data pulls them away.
        """
        squared = (
            self.user_embedding(user).pow(2).sum(1)
            + self.item_embedding(item).pow(2).sum(1)
            + self.user_bias(user).pow(2).sum(1)
            + self.item_bias(item).pow(2).sum(1)
        )  # (B,)
        return squared.mean()
