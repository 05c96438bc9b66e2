"""A masked autoregressive network (MADE) over discrete codes whose column order can change.

MADE (Germain et al. 2015) masks the weights of an MLP so that the output of column j depends
only on the columns before j in an order: one forward pass gives every conditional
p(x_j | x_<j), which is what makes it fast enough to train on two CPU cores (an any-order
network with masked inputs, tried first, trains only the conditional of the next column per
row and order, about D times less signal per pass: on diamonds it reached quality 0.954 after 26
epochs where this one needs a handful).

The order is an input, not a constant: each batch is trained either in the canonical column
order (half of the batches) or in an order that puts a random subset S of the columns first
(each in canonical order), then the rest. Sampling with columns fixed uses exactly such an
order with the fixed columns as S, so any subset of columns can be conditioned on. Context
columns (a child table's parent row) have degree 0: every output may read them, and so may an
optional dense summary vector (`summary_size`): SequenceMADE feeds it a summary of the rows
before a row in its sequence. With `direct_max_codes` > 0 (wide tables), columns of at most
that many codes also read the embedded columns before them through a direct masked linear
path, which carries a column's complement past the MADE's few hidden units per degree, and
with `numeric_bins` numeric columns read each other through a score path: one slope per pair
of numeric columns on their bins' normal scores, the conditional of a Gaussian copula
(a column that follows another, as an installment follows the loan amount, is one slope
learnt from every row, where the MADE learns a pattern per bin through a few hidden units;
loans_full_schema's numeric pair score 0.953 -> 0.983, benchmarks/RESULTS.md).
SequenceMADE trains and samples in the canonical order only: what its sampling fixes (a
sequence's helper columns) follows from the row's position.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

# on a wide table, columns of at most this many codes also get a direct masked linear path
# from the embedded inputs to their logits: a MADE passes what column j says to column j + 1
# only through the few hidden units of degree j (3 of 256 on an 86-column table), too few for
# a column that is another's complement (Caravan: renters' and owners' shares, pair score
# 0.58); wider columns (3,000 tail numbers) would pay for it in every pass
DIRECT_MAX_CODES = 64


class OrderedMADE(nn.Module):
    """MLP from (context codes, column codes) to logits of every column, masked by an order."""

    def __init__(
        self,
        context_cardinalities: list[int],
        cardinalities: list[int],
        hidden_size: int,
        layers: int,
        embedding_size: int,
        summary_size: int = 0,
        context_numeric: list[tuple[int, int] | None] | None = None,
        direct_max_codes: int = 0,
        numeric_bins: list[tuple[int, int] | None] | None = None,
    ) -> None:
        super().__init__()
        self.n_context = len(context_cardinalities)
        self.summary_size = summary_size
        # numeric context columns (a parent's income) are also read as their bin's rank: one
        # embedding per bin alone learnt "more income, larger amounts" only partly from a few
        # thousand parents (benchmarks/RESULTS.md, Sequences: the parent link)
        ranked = [(j, *bins) for j, bins in enumerate(context_numeric or []) if bins is not None]
        for name, values in (
            ("rank_columns", [j for j, _, _ in ranked]),
            ("rank_firsts", [first for _, first, _ in ranked]),
            ("rank_sizes", [size for _, _, size in ranked]),
        ):
            self.register_buffer(name, torch.tensor(values, dtype=torch.long))
        self.dense_size = summary_size + len(ranked)
        self.cardinalities = list(cardinalities)
        n_columns = len(cardinalities)
        every = [*context_cardinalities, *cardinalities]
        self.register_buffer(
            "input_offsets", torch.tensor(np.cumsum([0, *every[:-1]]), dtype=torch.long)
        )
        self.embedding = nn.Embedding(sum(every), embedding_size)
        self.embedding_size = embedding_size
        widths = [len(every) * embedding_size + self.dense_size] + [hidden_size] * layers
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(widths))
        self.head = nn.Linear(hidden_size, sum(cardinalities))
        self.output_offsets = np.cumsum([0, *cardinalities]).tolist()
        direct = [c <= direct_max_codes for c in cardinalities]
        self.direct_columns = [j for j, keep in enumerate(direct) if keep]
        # each direct column's rows of the path's weight (its codes, in column order)
        starts = np.cumsum([0, *[cardinalities[j] for j in self.direct_columns]]).tolist()
        self.direct_rows = {
            j: slice(lo, lo + cardinalities[j])
            for j, lo in zip(self.direct_columns, starts, strict=False)
        }
        self.register_buffer(
            "direct_outputs",
            torch.tensor(
                [o for j in self.direct_columns for o in range(*self.output_offsets[j : j + 2])],
                dtype=torch.long,
            ),
        )
        # starts at 0: the network begins as a plain MADE and learns what the path adds
        self.direct = nn.Parameter(
            torch.zeros(len(self.direct_outputs), len(every) * embedding_size)
        )
        # the score path (`numeric_bins`: per column (first bin code, bins) or None): each
        # numeric column's bins get a normal score (`fit_scores`), and the logit of bin b of
        # column i gains slope[i, j] x score(b) x score of column j's code, for each numeric
        # column j before i; null codes score 0
        self.score_bins = {j: bins for j, bins in enumerate(numeric_bins or []) if bins is not None}
        self.register_buffer("code_scores", torch.zeros(sum(cardinalities)))
        self.register_buffer(
            "score_offsets",
            torch.tensor(self.output_offsets[:-1], dtype=torch.long),
            persistent=False,
        )
        self.score_slopes = nn.Parameter(
            torch.zeros((n_columns, n_columns) if self.score_bins else (0, 0))
        )
        # hidden unit k may read columns of rank <= degree k (rank 1 = first in the order)
        degrees = torch.arange(hidden_size) % max(n_columns, 1)
        self.register_buffer("hidden_degrees", degrees)
        self.register_buffer("hidden_mask", (degrees[:, None] >= degrees[None, :]).float())
        self.register_buffer(
            "output_columns",
            torch.repeat_interleave(torch.arange(n_columns), torch.tensor(cardinalities)),
        )

    def masks(self, ranks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Input, output and direct-path masks for an order given as each column's rank (1..D)."""
        context = torch.zeros(self.n_context, dtype=torch.long, device=ranks.device)
        embedded_degrees = torch.cat([context, ranks]).repeat_interleave(self.embedding_size)
        dense = torch.zeros(self.dense_size, dtype=torch.long, device=ranks.device)
        input_degrees = torch.cat([embedded_degrees, dense])
        input_mask = (self.hidden_degrees[:, None] >= input_degrees[None, :]).float()
        output_mask = (ranks[self.output_columns][:, None] > self.hidden_degrees[None, :]).float()
        direct_ranks = ranks[self.output_columns[self.direct_outputs]]
        direct_mask = (direct_ranks[:, None] > embedded_degrees[None, :]).float()
        return input_mask, output_mask, direct_mask

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args, **kwargs) -> None:
        # a network saved before the direct path or the score path loads with them at 0
        state_dict.setdefault(prefix + "direct", torch.zeros_like(self.direct))
        state_dict.setdefault(prefix + "code_scores", torch.zeros_like(self.code_scores))
        state_dict.setdefault(prefix + "score_slopes", torch.zeros_like(self.score_slopes))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @torch.no_grad()
    def fit_scores(self, codes: np.ndarray) -> None:
        """Set each numeric column's bin scores from its training codes (columns after the
        context): the normal quantile of the bin's middle training share among the column's
        non-null rows, so that a column's scores have about mean 0 and variance 1."""
        for j, (first, bins) in self.score_bins.items():
            counts = np.bincount(np.asarray(codes[:, j]), minlength=self.cardinalities[j])
            inside = counts[first : first + bins].astype(np.float64)
            middle = (np.cumsum(inside) - inside / 2) / max(inside.sum(), 1.0)
            scores = torch.special.ndtri(torch.from_numpy(np.clip(middle, 1e-4, 1 - 1e-4)))
            start = self.output_offsets[j] + first
            self.code_scores[start : start + bins] = scores.to(self.code_scores)

    def _ordered_slopes(self, ranks: torch.Tensor) -> torch.Tensor:
        """The score path's slopes with those of column j for column i kept only where j is
        ranked before i."""
        return self.score_slopes * (ranks[None, :] < ranks[:, None]).to(self.score_slopes.dtype)

    def _score_terms(self, codes: torch.Tensor, ranks: torch.Tensor) -> torch.Tensor:
        """Per row and column, the score path's slope-weighted sum of the scores of the columns
        ranked before it (rows of codes after the context)."""
        return F.linear(self.code_scores[codes + self.score_offsets], self._ordered_slopes(ranks))

    def hidden(
        self,
        embedded: torch.Tensor,
        codes: torch.Tensor,
        input_mask: torch.Tensor,
        summary: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The last hidden layer for rows of codes (context first; `embedded`: their embeddings,
        flattened; then the summary vector when the network has one) under an input mask."""
        x = self._with_dense(embedded, codes, summary)
        for i, layer in enumerate(self.layers):
            mask = input_mask if i == 0 else self.hidden_mask
            x = F.silu(F.linear(x, layer.weight * mask, layer.bias))
        return x

    def _with_dense(
        self, x: torch.Tensor, codes: torch.Tensor, summary: torch.Tensor | None
    ) -> torch.Tensor:
        """The first layer's input: embedded codes, then the summary vector, then the ranks
        (centred on 0; 0 where null) of the numeric context columns' bins."""
        pieces = [x]
        if self.summary_size:
            assert summary is not None, "this network reads a summary vector per row"
            pieces.append(summary)
        if len(self.rank_columns):
            pieces.append(self.context_ranks(codes).to(x.dtype))
        return torch.cat(pieces, dim=1) if len(pieces) > 1 else x

    def context_ranks(self, codes: torch.Tensor) -> torch.Tensor:
        """Ranks of the numeric context columns' bins (rows x those columns), centred on 0 and
        0 where null, for rows of codes that start with the context."""
        index = codes[:, self.rank_columns] - self.rank_firsts
        inside = (index >= 0) & (index < self.rank_sizes)
        return torch.where(inside, (index.float() + 0.5) / self.rank_sizes - 0.5, 0.0)

    def forward(
        self, codes: torch.Tensor, ranks: torch.Tensor, summary: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Logits of every column's codes, each reading only the columns ranked before it."""
        input_mask, output_mask, direct_mask = self.masks(ranks)
        embedded = self.embedding(codes + self.input_offsets).flatten(1)
        hidden = self.hidden(embedded, codes, input_mask, summary)
        logits = F.linear(hidden, self.head.weight * output_mask, self.head.bias)
        direct = F.linear(embedded, self.direct * direct_mask)
        logits = logits.index_add(1, self.direct_outputs, direct)
        if self.score_bins:
            terms = self._score_terms(codes[:, self.n_context :], ranks)
            logits = logits + terms[:, self.output_columns] * self.code_scores
        return logits

    @torch.no_grad()
    def draw(
        self,
        context: torch.Tensor,
        codes: torch.Tensor,
        given: torch.Tensor,
        ranks: torch.Tensor,
        generator: torch.Generator | None = None,
        summary: torch.Tensor | None = None,
        bias: dict[int, torch.Tensor] | None = None,
        marginals: list[torch.Tensor | None] | None = None,
    ) -> torch.Tensor:
        """`codes` (rows x columns) with every column not `given` drawn in the order `ranks`,
        each from its logits given the columns before it (plus `bias[column]`, rows x its
        codes, where given). With `marginals` (per column a probability per code, or None),
        each such column's output bias is first shifted, for good, so that its mean
        probability over these rows is that marginal (`calibrate_marginals`).

        The same draws as computing each column's logits from scratch, for less: the first
        layer's pre-activation is kept and gains one column's input as it is drawn, and the
        deeper layers and the head compute only the hidden units the column's output may read
        (degree below its rank; they read only units of lower degree). On flights (18
        columns) sampling took a third of the time of the from-scratch pass.
        """
        input_mask, output_mask, direct_mask = self.masks(ranks)
        known = torch.cat(
            [torch.ones(self.n_context, dtype=torch.bool, device=given.device), given]
        )
        inputs = self.embedding(torch.cat([context, codes], dim=1) + self.input_offsets)
        embedded = (inputs * known[None, :, None]).flatten(1)
        inputs = self._with_dense(embedded, context, summary)
        direct = self.direct * direct_mask
        # hidden units sorted by degree: those a column may read are then a prefix
        order = torch.argsort(self.hidden_degrees, stable=True)
        below = torch.searchsorted(self.hidden_degrees[order], ranks).tolist()
        first = (self.layers[0].weight * input_mask)[order]
        pre = F.linear(inputs, first, self.layers[0].bias[order])
        deeper = [
            ((layer.weight * self.hidden_mask)[order][:, order], layer.bias[order])
            for layer in self.layers[1:]
        ]
        head = (self.head.weight * output_mask)[:, order]
        e = self.embedding_size
        if self.score_bins:
            scores = self.code_scores[codes + self.score_offsets] * given[None, :]
            slopes = self._ordered_slopes(ranks)
        for column in torch.argsort(ranks).tolist():
            if bool(given[column]):
                continue
            units = below[column]
            hidden = F.silu(pre[:, :units])
            for weight, layer_bias in deeper:
                hidden = F.silu(F.linear(hidden, weight[:units, :units], layer_bias[:units]))
            start, stop = self.output_offsets[column], self.output_offsets[column + 1]
            extra = None if bias is None else bias.get(column)
            if column in self.direct_rows:
                path = F.linear(embedded, direct[self.direct_rows[column]])
                extra = path if extra is None else extra + path
            if column in self.score_bins:
                tilt = (scores @ slopes[column])[:, None] * self.code_scores[start:stop]
                extra = tilt if extra is None else extra + tilt
            if marginals is not None and marginals[column] is not None:
                logits = F.linear(hidden, head[start:stop, :units], self.head.bias[start:stop])
                shift = _marginal_shift(logits if extra is None else logits + extra,
                                        marginals[column])  # fmt: skip
                self.head.bias[start:stop] += shift
            drawn = _draw_column(
                hidden, head[start:stop, :units], self.head.bias[start:stop], extra, generator
            )
            codes[:, column] = drawn
            if self.score_bins:
                scores[:, column] = self.code_scores[start + drawn]
            j = self.n_context + column
            drawn_embedding = self.embedding(drawn + self.input_offsets[j])
            pre.addmm_(drawn_embedding, first[:, j * e : (j + 1) * e].T)
            embedded[:, j * e : (j + 1) * e] = drawn_embedding
        return codes

    def loss(
        self, codes: torch.Tensor, ranks: torch.Tensor, summary: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Mean cross-entropy per column of the rows' codes (context columns first)."""
        return self.cross_entropy(self(codes, ranks, summary), codes)

    def cross_entropy(self, logits: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy per column of `logits` (every column's) against the rows' codes."""
        columns = codes[:, self.n_context :]
        # torch.split, not slices: a slice's backward fills a zero tensor of the whole logits
        # per column (38 % of a training step on flights)
        pieces = torch.split(logits, self.cardinalities, dim=1)
        total = sum(
            F.cross_entropy(piece, columns[:, j], reduction="sum") for j, piece in enumerate(pieces)
        )
        return total / (len(self.cardinalities) * len(columns))


class SequenceMADE(nn.Module):
    """An OrderedMADE over the rows of sequences, with what a row's history says built in.

    A row's context columns hold the previous row's codes at `previous` (a start token on a
    first row). On top of them, each row reads a summary of the rows before it in its
    sequence: per numeric column, the previous row's bin and the mean bin of all rows before
    (as ranks centred on 0; a running sum carried from row to row), and, with
    `history_size` > 0, the state of a GRU that reads each previous row's codes. Each numeric
    column's logits also get two learned curves by distance in bins: from the previous row's
    bin, and from the bin nearest the mean of the rows before (once two rows came before),
    each weighed by a learned scale per position (the mean of more rows is a surer level).
    "Close to last year's value" and "close to this person's level" are then one shared curve
    each, rather than one pattern per bin that the MADE alone learns only partly from a few
    thousand rows (benchmarks/RESULTS.md, Sequences). For the same reason each numeric
    column's bins are tilted by the parent's numeric columns (a slope per pair, one set for
    first rows and one for later rows): only first rows carry the parent's whole effect, and a
    few hundred of them did not teach the MADE "more schooling, higher first wage".

    `numeric_bins` gives, per column, (code of its first bin, number of bins) for a numeric
    column and None for a categorical one. Training reads whole padded sequences (teacher
    forcing: every row's context holds the real previous row); sampling goes one position at a
    time, carrying a state per sequence (`step`).
    """

    def __init__(
        self,
        context_cardinalities: list[int],
        cardinalities: list[int],
        hidden_size: int,
        layers: int,
        embedding_size: int,
        history_size: int,
        previous: tuple[int, int],
        numeric_bins: list[tuple[int, int] | None],
        context_numeric: list[tuple[int, int] | None] | None = None,
        direct_max_codes: int = 0,
    ) -> None:
        super().__init__()
        previous_cardinalities = context_cardinalities[previous[0] : previous[1]]
        self.numeric = [(j, *bins) for j, bins in enumerate(numeric_bins) if bins is not None]
        self.previous = previous
        self.history_size = history_size
        # summary: GRU state, then per numeric column the previous rank, the mean rank of the
        # rows before and whether two or more came before
        self.summary_size = history_size + 3 * len(self.numeric)
        # carried from step to step: GRU state, then per numeric column sum of bins and count
        self.state_size = history_size + 2 * len(self.numeric)
        self.made = OrderedMADE(
            context_cardinalities, cardinalities, hidden_size, layers, embedding_size,
            self.summary_size, context_numeric, direct_max_codes,
        )  # fmt: skip
        for name, values in (
            ("numeric_columns", [previous[0] + j for j, _, _ in self.numeric]),
            ("numeric_firsts", [first for _, first, _ in self.numeric]),
            ("numeric_sizes", [bins for _, _, bins in self.numeric]),
        ):
            self.register_buffer(name, torch.tensor(values, dtype=torch.long))
        self.gru: nn.GRU | None = None
        if history_size:
            self.register_buffer(
                "previous_offsets",
                torch.tensor(np.cumsum([0, *previous_cardinalities[:-1]]), dtype=torch.long),
            )
            self.history_embedding = nn.Embedding(sum(previous_cardinalities), embedding_size)
            self.gru = nn.GRU(
                len(previous_cardinalities) * embedding_size, history_size, batch_first=True
            )
        # weight of distance d (a bin minus the reference bin) at d + bins - 1
        self.nearby = nn.ParameterList(
            nn.Parameter(torch.zeros(2 * bins - 1)) for _, _, bins in self.numeric
        )
        self.level = nn.ParameterList(
            nn.Parameter(torch.zeros(2 * bins - 1)) for _, _, bins in self.numeric
        )
        positions = context_cardinalities[previous[1]]  # the position bucket's cardinality
        # per numeric column and position bucket (rows before), how strongly each curve pulls:
        # the mean of more earlier rows is a surer level, and the previous row then matters less
        self.curve_scales = nn.Parameter(torch.ones(2, len(self.numeric), positions))
        # per numeric column and numeric parent column, how far the parent's rank tilts the
        # column's bins up (logit + slope x parent rank x bin rank), one slope for a first row
        # and one for the later ones: a few slopes learn from a few hundred first rows what the
        # MADE's pattern per bin did not (Males: first wage against schooling 0.01, real 0.26)
        n_ranked = len(self.made.rank_columns)
        self.parent_tilt = nn.Parameter(torch.zeros(2, len(self.numeric), n_ranked))

    @property
    def cardinalities(self) -> list[int]:
        return self.made.cardinalities

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args, **kwargs) -> None:
        # a network saved before the parent tilt or the curve scales were added loads as if
        # they were at their neutral values (no tilt, every curve at full weight)
        for name, neutral in (("parent_tilt", torch.zeros_like), ("curve_scales", torch.ones_like)):
            state_dict.setdefault(prefix + name, neutral(getattr(self, name)))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def distance_weights(self) -> list[nn.Parameter]:
        """The distance curves (each shared by every row of its column)."""
        return [*self.nearby, *self.level, self.parent_tilt, self.curve_scales]

    @torch.no_grad()
    def start_nearby(self, codes: np.ndarray, rows: np.ndarray) -> None:
        """Start each previous-bin distance curve at how much likelier each distance is among
        the training `rows` of `codes` (context first) than between independent draws of the
        two bins: log((pairs at distance d + 1) / (pairs expected under independence + 1));
        training refines it (the level curves start at 0)."""
        for k, (j, first, bins) in enumerate(self.numeric):
            previous = np.asarray(codes[rows, self.previous[0] + j], dtype=np.int64) - first
            current = np.asarray(codes[rows, self.made.n_context + j], dtype=np.int64) - first
            both = (previous >= 0) & (previous < bins) & (current >= 0) & (current < bins)
            if not both.any():
                continue
            previous, current = previous[both], current[both]
            seen = np.bincount(current - previous + bins - 1, minlength=2 * bins - 1)
            independent = np.convolve(
                np.bincount(current, minlength=bins), np.bincount(previous, minlength=bins)[::-1]
            ) / len(current)
            weight = np.log((seen + 1.0) / (independent + 1.0))
            self.nearby[k].copy_(torch.from_numpy(weight - weight.mean()).float())
        self._start_first_tilt(codes, rows)

    @torch.no_grad()
    def _start_first_tilt(self, codes: np.ndarray, rows: np.ndarray) -> None:
        """Start the first rows' parent tilts at the least-squares slopes of a column's bin rank
        on the parent ranks over the residual variance (the tilt that shifts the mean so for
        small slopes); the later rows' start at 0 (their history already carries the level)."""
        made = self.made
        first_rows = rows[np.asarray(codes[rows, self.previous[1]]) == 0]
        if not len(made.rank_columns) or len(first_rows) < 10:
            return
        context = torch.from_numpy(np.asarray(codes[first_rows], dtype=np.int64))
        ranks = made.context_ranks(context).double()
        for k, (j, first, bins) in enumerate(self.numeric):
            current = context[:, made.n_context + j] - first
            known = (current >= 0) & (current < bins)
            if int(known.sum()) < 10:
                continue
            y = (current[known].double() + 0.5) / bins - 0.5
            x = torch.cat([ranks[known], torch.ones(int(known.sum()), 1, dtype=torch.double)], 1)
            solution = torch.linalg.lstsq(x, y[:, None]).solution
            residual = float((y - (x @ solution)[:, 0]).var())
            self.parent_tilt[0, k].copy_((solution[:-1, 0] / max(residual, 1e-3)).float())

    def _previous_bins(self, context: torch.Tensor) -> torch.Tensor:
        """Per numeric column the previous row's bin, -1 where it holds none (null, start)."""
        index = context[..., self.numeric_columns] - self.numeric_firsts
        return torch.where((index >= 0) & (index < self.numeric_sizes), index, -1)

    def _sums(self, bins: torch.Tensor) -> torch.Tensor:
        """Per numeric column (bin, 1) where a previous bin is known, else (0, 0)."""
        known = (bins >= 0).float()
        return torch.stack([bins.clamp(min=0).float() * known, known], dim=-1).flatten(-2)

    def _summary(
        self, gru_state: torch.Tensor, previous: torch.Tensor, sums: torch.Tensor
    ) -> torch.Tensor:
        sizes = self.numeric_sizes
        total, count = sums[..., 0::2], sums[..., 1::2]
        mean = total / count.clamp(min=1.0)
        ranks = torch.where(previous >= 0, (previous + 0.5) / sizes - 0.5, 0.0)
        means = torch.where(count > 0, (mean + 0.5) / sizes - 0.5, 0.0)
        return torch.cat([gru_state, ranks, means, (count >= 2).float()], dim=-1)

    def _gru_inputs(self, context: torch.Tensor) -> torch.Tensor:
        previous = context[..., self.previous[0] : self.previous[1]] + self.previous_offsets
        return self.history_embedding(previous).flatten(-2)

    def summaries(self, codes: torch.Tensor) -> torch.Tensor:
        """Summaries (sequences x positions x summary_size) of padded sequences of rows
        (sequences x positions x codes, context first): at each row, of the rows before it."""
        previous = self._previous_bins(codes)
        states = codes.new_zeros((*codes.shape[:2], 0), dtype=torch.float32)
        if self.gru is not None:
            states, _ = self.gru(self._gru_inputs(codes))
        return self._summary(states, previous, torch.cumsum(self._sums(previous), dim=1))

    def step(self, context: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(next state, summary) of each sequence (rows x state_size, rows x summary_size) from
        its state (zeros before a first row) and the context of its next row (rows x context
        columns), which holds the row drawn last."""
        previous = self._previous_bins(context)
        gru_state, sums = state[:, : self.history_size], state[:, self.history_size :]
        if self.gru is not None:
            _, gru_state = self.gru(
                self._gru_inputs(context[:, None, :]), gru_state[None].contiguous()
            )
            gru_state = gru_state[0]
        sums = sums + self._sums(previous)
        return torch.cat([gru_state, sums], dim=-1), self._summary(gru_state, previous, sums)

    def _tilts(self, context: torch.Tensor) -> torch.Tensor:
        """Per row and numeric column the parent tilt (rows x numeric columns)."""
        ranks = self.made.context_ranks(context)
        later = (context[:, self.previous[1]] > 0).long()  # the position bucket
        return torch.einsum("rp,rkp->rk", ranks, self.parent_tilt[later])

    def row_terms(self, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """What the distance curves read of each row's context: per numeric column the
        previous bin (`_previous_bins`) and the parent tilt (`_tilts`), and the position bucket."""
        return self._previous_bins(context), self._tilts(context), context[:, self.previous[1]]

    def _distance_bias(
        self,
        terms: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
        summary: torch.Tensor,
        k: int,
    ) -> torch.Tensor:
        """Bias of the logits of the k-th numeric column's bins (rows x bins), from the rows'
        `row_terms` and summaries."""
        previous_bins, tilts, positions = terms
        _, _, bins = self.numeric[k]
        previous = previous_bins[:, k]
        scales = self.curve_scales[:, k, positions]
        steps = torch.arange(bins, device=summary.device)
        grid = steps[None, :] + bins - 1
        bias = (
            self.nearby[k][grid - previous.clamp(min=0)[:, None]]
            * ((previous >= 0) * scales[0])[:, None]
        )
        m = len(self.numeric)
        mean_rank = summary[:, self.history_size + m + k]
        mean = ((mean_rank + 0.5) * bins - 0.5).round().long().clamp(0, bins - 1)
        two_before = summary[:, self.history_size + 2 * m + k, None]
        tilt = tilts[:, k, None] * ((steps[None, :] + 0.5) / bins - 0.5)
        level = self.level[k][grid - mean[:, None]] * two_before * scales[1][:, None]
        return bias + level + tilt

    @torch.no_grad()
    def draw(
        self,
        context: torch.Tensor,
        codes: torch.Tensor,
        given: torch.Tensor,
        ranks: torch.Tensor,
        generator: torch.Generator | None = None,
        summary: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """OrderedMADE.draw for rows of sequences given their summaries, each numeric column's
        logits with its distance curves added."""
        assert summary is not None, "a sequence network reads a summary per row"
        terms = self.row_terms(context)
        bias = {}
        for k, (j, first, bins) in enumerate(self.numeric):
            width = self.made.cardinalities[j]
            curve = self._distance_bias(terms, summary, k)
            bias[j] = F.pad(curve, (first, width - first - bins))
        return self.made.draw(context, codes, given, ranks, generator, summary, bias)

    def loss(self, batch: tuple[torch.Tensor, torch.Tensor], ranks: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy per column of the rows of padded sequences (codes, and a mask of
        the rows that are not padding)."""
        codes, present = batch
        rows, summary = codes[present], self.summaries(codes)[present]
        logits = self.made(rows, ranks, summary)
        terms = self.row_terms(rows)
        pieces, done = [], 0
        for k, (j, first, bins) in enumerate(self.numeric):
            start = self.made.output_offsets[j] + first
            pieces += [
                logits[:, done:start],
                logits[:, start : start + bins] + self._distance_bias(terms, summary, k),
            ]
            done = start + bins
        pieces.append(logits[:, done:])
        return self.made.cross_entropy(torch.cat(pieces, dim=1), rows)


# the marginal shift's fixed-point steps: each moves every code's log mean probability to its
# target's; a handful reach a largest log-ratio below 1e-3 on the wide tables measured
SHIFT_STEPS = 25
SHIFT_TOLERANCE = 1e-3


def _marginal_shift(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The offset per code that makes the mean over rows of softmax(logits + offset) equal
    `target` (a probability per code; codes of probability 0 are pushed far down)."""
    log_target = torch.log(target.clamp(min=1e-12)).to(logits.dtype)
    shift = torch.zeros(logits.shape[1], dtype=logits.dtype, device=logits.device)
    for _ in range(SHIFT_STEPS):
        mean = torch.softmax(logits + shift, dim=1).mean(dim=0)
        gap = log_target - torch.log(mean.clamp(min=1e-12))
        shift += gap
        if float(gap[target > 0].abs().max()) < SHIFT_TOLERANCE:
            break
    return shift - shift.max()


# logits held at once while drawing one column (floats): a block of rows at a time, so that a
# 3,000-category column does not hold 50,000 rows x 3,000 logits and their softmax (1.2 GB;
# flights' peak memory went from 1.4 to 2.7 GB with tailnum's categories kept)
DRAW_LOGITS = 1 << 22


def _draw_column(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    extra: torch.Tensor | None,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """One code per row of `hidden` from the logits hidden @ weight.T + bias (+ `extra`, rows x
    codes), computed DRAW_LOGITS floats at a time."""
    block = max(1, DRAW_LOGITS // max(len(weight), 1))
    drawn = []
    for lo in range(0, len(hidden), block):
        logits = F.linear(hidden[lo : lo + block], weight, bias)
        if extra is not None:
            logits = logits + extra[lo : lo + block]
        drawn.append(draw_from(torch.softmax(logits.float(), dim=1), generator))
    return torch.cat(drawn) if drawn else hidden.new_zeros(0, dtype=torch.long)


def draw_from(probabilities: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """One index per row of `probabilities` (rows x categories, rows summing to 1), drawn with
    those probabilities by inverting the cumulative sum at one uniform per row: torch.multinomial
    draws one exponential per category and row, which was 41 % of flights' sampling time."""
    cumulative = probabilities.cumsum(dim=1)
    uniform = torch.rand((len(probabilities), 1), generator=generator, device=probabilities.device)
    drawn = torch.searchsorted(cumulative, uniform * cumulative[:, -1:], right=True)
    return drawn.squeeze(1).clamp(max=probabilities.shape[1] - 1)


def ranks_with_first(first: torch.Tensor) -> torch.Tensor:
    """Ranks (1..D) of the order that puts the columns flagged in `first` before the others,
    each group in canonical order."""
    key = (~first).long() * len(first) + torch.arange(len(first), device=first.device)
    ranks = torch.empty_like(key)
    ranks[torch.argsort(key)] = torch.arange(1, len(first) + 1, device=first.device)
    return ranks


def training_ranks(columns: int, generator: torch.Generator) -> torch.Tensor:
    """The order of one training batch: canonical half of the time, else a random subset
    (each column in it with a probability drawn uniformly) first."""
    if float(torch.rand(1, generator=generator)) < 0.5:
        return torch.arange(1, columns + 1)
    rate = torch.rand(1, generator=generator)
    return ranks_with_first(torch.rand(columns, generator=generator) < rate)


@torch.no_grad()
def sample_codes(
    net: OrderedMADE | SequenceMADE,
    context: torch.Tensor,
    fixed: torch.Tensor,
    generator: torch.Generator | None = None,
    summary: torch.Tensor | None = None,
    canonical: bool = False,
) -> torch.Tensor:
    """Draw the codes of every column not fixed, one column at a time, in the order that puts
    the fixed columns first.

    `context` (rows x context columns) is read as is; `fixed` (rows x columns) holds a code
    where a column is given (the same columns in every row) and -1 where it is to be drawn;
    `summary` (rows x summary_size) is what a network with a summary input reads per row.
    `canonical` keeps the canonical order and only skips the fixed columns: exact when what is
    fixed follows from the context (a sequence's helper columns from the row's position).
    """
    given = (fixed[0] >= 0) if len(fixed) else torch.zeros(fixed.shape[1], dtype=torch.bool)
    given = given.to(fixed.device)
    if canonical:
        ranks = torch.arange(1, fixed.shape[1] + 1, device=fixed.device)
    else:
        ranks = ranks_with_first(given)
    return net.draw(context, fixed.clamp(min=0), given, ranks, generator, summary)


# rows drawn to calibrate the marginals (their sampling noise, about sqrt(p / rows), stays well
# below the drift it corrects), and the widest column calibrated (its logits for all those
# rows are held at once: 20,000 x 256 floats)
CALIBRATION_ROWS = 20_000
CALIBRATION_MAX_CODES = 256


@torch.no_grad()
def calibrate_marginals(
    net: OrderedMADE, codes: np.ndarray, generator: torch.Generator | None = None
) -> None:
    """Shift the output biases of `net` (a network without context) so that rows drawn from
    it in the canonical order have each column's code frequencies in `codes` (its training
    rows), for columns of at most CALIBRATION_MAX_CODES codes.

    Why: sampling feeds each column the columns drawn before it, whose small errors carry
    the later columns' marginals away from the training rows' (loans_full_schema, 55 columns:
    on 8,000 drawn rows paid_total's bins were 0.17 in total variation from train's, term's
    two codes 0.03; with weight averaging and this shift 0.03 and 0.001, the first about
    what 8,000 draws from the training frequencies give; benchmarks/RESULTS.md). The shift
    is one offset per code, found on CALIBRATION_ROWS drawn rows column by column, in the
    order they are drawn; what it reads of the training rows is each column's code counts,
    which the network's own training already fits.
    """
    assert net.n_context == 0, "a network with context columns is calibrated per parent"
    device = net.head.bias.device
    width = len(net.cardinalities)
    marginals: list[torch.Tensor | None] = []
    for j, cardinality in enumerate(net.cardinalities):
        counts = np.bincount(np.asarray(codes[:, j]), minlength=cardinality)
        marginals.append(
            torch.from_numpy(counts / counts.sum()).float().to(device)
            if cardinality <= CALIBRATION_MAX_CODES
            else None
        )
    rows = torch.zeros((CALIBRATION_ROWS, width), dtype=torch.long, device=device)
    context = torch.zeros((CALIBRATION_ROWS, 0), dtype=torch.long, device=device)
    given = torch.zeros(width, dtype=torch.bool, device=device)
    ranks = torch.arange(1, width + 1, device=device)
    net.draw(context, rows, given, ranks, generator, marginals=marginals)
