"""The masked network's sampling: the fast column-by-column draw is the plain MADE draw."""

from __future__ import annotations

import pytest
import torch

from anon_platform.generators.autoregressive import network
from anon_platform.generators.autoregressive.network import (
    OrderedMADE,
    SequenceMADE,
    draw_from,
    ranks_with_first,
)

CONTEXT = [3, 5]
COLUMNS = [4, 7, 2, 9, 6]


def reference_draw(
    net: OrderedMADE | SequenceMADE,
    context: torch.Tensor,
    codes: torch.Tensor,
    given: torch.Tensor,
    ranks: torch.Tensor,
    generator: torch.Generator,
    summary: torch.Tensor | None = None,
) -> torch.Tensor:
    """Every column drawn from a full forward pass over the codes drawn so far."""
    made = net.made if isinstance(net, SequenceMADE) else net
    for column in torch.argsort(ranks).tolist():
        if bool(given[column]):
            continue
        rows = torch.cat([context, codes], dim=1)
        if isinstance(net, SequenceMADE):
            logits = made(rows, ranks, summary)
            terms = net.row_terms(rows)
            for k, (j, first, bins) in enumerate(net.numeric):
                if j == column:
                    start = made.output_offsets[j] + first
                    bias = net._distance_bias(terms, summary, k)
                    logits[:, start : start + bins] += bias
        else:
            logits = made(rows, ranks)
        start, stop = made.output_offsets[column], made.output_offsets[column + 1]
        codes[:, column] = draw_from(torch.softmax(logits[:, start:stop], dim=1), generator)
    return codes


def random_inputs(rows: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    context = torch.stack(
        [torch.randint(0, c, (rows,), generator=generator) for c in CONTEXT], dim=1
    )
    codes = torch.stack([torch.randint(0, c, (rows,), generator=generator) for c in COLUMNS], dim=1)
    return context, codes


def perturbed(net: torch.nn.Module) -> torch.nn.Module:
    torch.manual_seed(0)
    with torch.no_grad():
        for weight in net.parameters():
            weight.add_(torch.randn_like(weight) * 0.5)
    return net.eval()


def test_the_fast_draw_equals_drawing_each_column_from_a_full_pass() -> None:
    torch.manual_seed(1)
    # direct paths for the columns of at most 8 codes (all but the 9-code one)
    net = OrderedMADE(
        CONTEXT, COLUMNS, 32, 3, 4, context_numeric=[None, (1, 4)], direct_max_codes=8
    )
    net = perturbed(net)
    context, codes = random_inputs(200, 2)
    assert_fast_draws_equal_full_passes(
        net, context, codes, torch.tensor([False, True, False, False, True])
    )


def assert_fast_draws_equal_full_passes(
    net: OrderedMADE, context: torch.Tensor, codes: torch.Tensor, given: torch.Tensor
) -> None:
    """In the canonical order and in the order with `given` first, `net.draw` draws what
    `reference_draw` does and keeps the given codes."""
    for ranks in (torch.arange(1, len(COLUMNS) + 1), ranks_with_first(given)):
        fast = net.draw(context, codes.clone(), given, ranks, torch.Generator().manual_seed(3))
        slow = reference_draw(
            net, context, codes.clone(), given, ranks, torch.Generator().manual_seed(3)
        )
        assert torch.equal(fast, slow)
        assert torch.equal(fast[:, given], codes[:, given])


def test_drawing_a_wide_column_in_blocks_of_rows_changes_no_draw(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    torch.manual_seed(2)
    net = perturbed(
        OrderedMADE(
            CONTEXT, COLUMNS, hidden_size=32, layers=2, embedding_size=4, direct_max_codes=8
        )
    )
    context, codes = random_inputs(300, 8)
    given = torch.zeros(len(COLUMNS), dtype=torch.bool)
    ranks = torch.arange(1, len(COLUMNS) + 1)
    whole = net.draw(context, codes.clone(), given, ranks, torch.Generator().manual_seed(9))
    monkeypatch.setattr(network, "DRAW_LOGITS", 50)  # blocks of 5-25 rows
    blocks = net.draw(context, codes.clone(), given, ranks, torch.Generator().manual_seed(9))
    assert torch.equal(whole, blocks)


def sequence_network(context_cards: list[int]) -> SequenceMADE:
    """A parent's categorical and numeric column (6 bins after a null code), the previous
    row's codes (numeric columns 1 and 3), its position and rows-remaining buckets."""
    return SequenceMADE(
        context_cards, COLUMNS, 32, 2, 4, 0, (2, 2 + len(COLUMNS)),
        [None, (0, 7), None, (1, 8), None], [None, (1, 6), *[None] * (len(COLUMNS) + 2)], 8,
    )  # fmt: skip


SEQUENCE_CONTEXT = [3, 7, *[c + 1 for c in COLUMNS], 16, 16]


def test_the_sequence_network_draw_adds_its_distance_curves_and_parent_tilts() -> None:
    torch.manual_seed(4)
    net = perturbed(sequence_network(SEQUENCE_CONTEXT))
    generator = torch.Generator().manual_seed(5)
    context = torch.stack(
        [torch.randint(0, c, (150,), generator=generator) for c in SEQUENCE_CONTEXT], dim=1
    )
    summary = torch.rand(150, net.summary_size, generator=generator) - 0.5
    codes = torch.zeros(150, len(COLUMNS), dtype=torch.long)
    given = torch.zeros(len(COLUMNS), dtype=torch.bool)
    ranks = torch.arange(1, len(COLUMNS) + 1)
    fast = net.draw(context, codes.clone(), given, ranks, torch.Generator().manual_seed(6), summary)
    slow = reference_draw(
        net, context, codes.clone(), given, ranks, torch.Generator().manual_seed(6), summary
    )
    assert torch.equal(fast, slow)


def test_first_rows_start_tilted_the_way_their_numeric_parent_column_moves_them() -> None:
    generator = torch.Generator().manual_seed(7)
    rows = 600
    context = torch.stack(
        [torch.randint(0, c, (rows,), generator=generator) for c in SEQUENCE_CONTEXT], dim=1
    )
    context[:, -2] = 0  # first rows
    parent_bin = context[:, 1].clamp(min=1) - 1  # 0..5
    codes = torch.stack([torch.randint(0, c, (rows,), generator=generator) for c in COLUMNS], 1)
    codes[:, 1] = parent_bin + torch.randint(0, 2, (rows,), generator=generator)  # rises
    codes[:, 3] = 8 - parent_bin - torch.randint(0, 2, (rows,), generator=generator)  # falls
    net = sequence_network(SEQUENCE_CONTEXT)
    net.start_nearby(torch.cat([context, codes], dim=1).numpy(), torch.arange(rows).numpy())
    first_tilt = net.parent_tilt.detach()[0, :, 0]
    assert float(first_tilt[0]) > 1.0
    assert float(first_tilt[1]) < -1.0
    assert torch.equal(net.parent_tilt[1], torch.zeros_like(net.parent_tilt[1]))


def test_a_sequence_network_saved_before_tilts_scales_and_direct_path_loads_them_neutral() -> None:
    torch.manual_seed(3)
    saved = perturbed(sequence_network(SEQUENCE_CONTEXT)).state_dict()
    old = {
        k: v for k, v in saved.items() if k not in ("parent_tilt", "curve_scales", "made.direct")
    }
    loaded = perturbed(sequence_network(SEQUENCE_CONTEXT))
    loaded.load_state_dict(old)
    assert torch.equal(loaded.parent_tilt, torch.zeros_like(loaded.parent_tilt))
    assert torch.equal(loaded.curve_scales, torch.ones_like(loaded.curve_scales))
    assert torch.equal(loaded.made.direct, torch.zeros_like(loaded.made.direct))
    assert torch.equal(loaded.nearby[0], saved["nearby.0"])


def test_draws_follow_the_probabilities_and_never_pick_an_impossible_code() -> None:
    probabilities = torch.tensor([[0.0, 0.2, 0.0, 0.5, 0.3]]).repeat(40_000, 1)
    drawn = draw_from(probabilities, torch.Generator().manual_seed(7))
    shares = torch.bincount(drawn, minlength=5).float() / len(drawn)
    assert shares[0] == 0 and shares[2] == 0
    assert torch.allclose(shares, probabilities[0], atol=0.01)


def complement_accuracy(direct_max_codes: int) -> float:
    """How often a 40-column MADE of 80 hidden units (2 per degree) draws column 1 as the
    complement of column 0 (9 - it, as renters' and owners' shares) after 300 steps."""
    torch.manual_seed(0)
    columns, rows = 40, 512
    net = OrderedMADE([], [10] * columns, 80, 2, 4, direct_max_codes=direct_max_codes)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    ranks = torch.arange(1, columns + 1)
    for _ in range(300):
        codes = torch.randint(0, 10, (rows, columns))
        codes[:, 1] = 9 - codes[:, 0]
        optimizer.zero_grad()
        net.loss(codes, ranks).backward()
        optimizer.step()
    drawn = net.eval().draw(
        torch.zeros((2000, 0), dtype=torch.long),
        torch.zeros((2000, columns), dtype=torch.long),
        torch.zeros(columns, dtype=torch.bool),
        ranks,
        torch.Generator().manual_seed(1),
    )
    return float((drawn[:, 1] == 9 - drawn[:, 0]).float().mean())


def test_a_column_that_complements_the_one_before_is_learnt_through_the_direct_path() -> None:
    with_path = complement_accuracy(network.DIRECT_MAX_CODES)
    without = complement_accuracy(0)
    assert with_path > 0.95
    assert without < with_path - 0.1


def skewed_codes(rows: int, seed: int) -> torch.Tensor:
    """Rows of COLUMNS' codes, each column drawn on its own from skewed frequencies."""
    generator = torch.Generator().manual_seed(seed)
    columns = []
    for cardinality in COLUMNS:
        weights = torch.arange(1, cardinality + 1, dtype=torch.float) ** 2
        columns.append(torch.multinomial(weights, rows, replacement=True, generator=generator))
    return torch.stack(columns, dim=1)


def drawn_marginal_gaps(net: OrderedMADE, codes: torch.Tensor, rows: int) -> list[float]:
    """Per column, the total variation between the codes' frequencies and those of `rows` rows
    drawn from `net` in the canonical order."""
    given = torch.zeros(len(COLUMNS), dtype=torch.bool)
    ranks = torch.arange(1, len(COLUMNS) + 1)
    drawn = net.draw(
        torch.zeros((rows, 0), dtype=torch.long),
        torch.zeros((rows, len(COLUMNS)), dtype=torch.long),
        given,
        ranks,
        torch.Generator().manual_seed(7),
    )
    gaps = []
    for j, cardinality in enumerate(COLUMNS):
        want = torch.bincount(codes[:, j], minlength=cardinality) / len(codes)
        got = torch.bincount(drawn[:, j], minlength=cardinality) / rows
        gaps.append(float(0.5 * (want - got).abs().sum()))
    return gaps


def test_calibrated_draws_have_the_training_rows_code_frequencies() -> None:
    codes = skewed_codes(4_000, seed=0)
    torch.manual_seed(0)
    net = perturbed(OrderedMADE([], COLUMNS, 32, 2, 4))
    before = drawn_marginal_gaps(net, codes, 20_000)
    network.calibrate_marginals(net, codes.numpy(), torch.Generator().manual_seed(1))
    after = drawn_marginal_gaps(net, codes, 20_000)
    assert sum(before) / len(before) > 0.2
    assert max(after) < 0.02


def test_columns_wider_than_the_calibration_limit_keep_their_output_bias(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(network, "CALIBRATION_MAX_CODES", 6)
    torch.manual_seed(0)
    net = perturbed(OrderedMADE([], COLUMNS, 32, 2, 4))
    bias = net.head.bias.detach().clone()
    network.calibrate_marginals(net, skewed_codes(1_000, seed=0).numpy())
    for j, cardinality in enumerate(COLUMNS):
        start, stop = net.output_offsets[j], net.output_offsets[j + 1]
        unchanged = torch.equal(net.head.bias[start:stop], bias[start:stop])
        assert unchanged == (cardinality > 6)


NUMERIC = [None, (0, 7), None, (1, 8), None]  # columns 1 and 3 binned (3 after a null code)


def scored_network(codes: torch.Tensor) -> OrderedMADE:
    """A network with the score path on COLUMNS' numeric columns, scores from `codes`."""
    net = OrderedMADE(CONTEXT, COLUMNS, 32, 2, 4, direct_max_codes=8, numeric_bins=NUMERIC)
    net.fit_scores(codes.numpy())
    return net


def test_bin_scores_are_normal_quantiles_of_the_training_shares_and_null_scores_zero() -> None:
    codes = torch.zeros(504, len(COLUMNS), dtype=torch.long)
    codes[:, 1] = torch.arange(504) % 7  # seven bins of equal shares
    codes[:, 3] = torch.arange(504) % 9  # the null code and eight bins of equal shares
    net = scored_network(codes)

    def scores(j: int) -> torch.Tensor:
        return net.code_scores[net.output_offsets[j] : net.output_offsets[j + 1]]

    def quantiles(bins: int) -> torch.Tensor:
        return torch.special.ndtri((torch.arange(bins) + 0.5) / bins)

    assert torch.allclose(scores(1), quantiles(7), atol=1e-5)
    assert float(scores(3)[0]) == 0.0
    assert torch.allclose(scores(3)[1:], quantiles(8), atol=1e-5)
    for j in (0, 2, 4):  # categorical
        assert not scores(j).any()


def test_the_fast_draw_adds_the_score_path_as_a_full_pass_does() -> None:
    context, codes = random_inputs(200, 2)
    torch.manual_seed(5)
    net = perturbed(scored_network(codes))
    assert net.score_slopes.abs().sum() > 0
    assert_fast_draws_equal_full_passes(
        net, context, codes, torch.tensor([False, False, True, False, False])
    )


def test_a_network_saved_before_the_score_path_loads_it_neutral() -> None:
    _, codes = random_inputs(200, 2)
    saved = perturbed(scored_network(codes)).state_dict()
    old = {k: v for k, v in saved.items() if k not in ("code_scores", "score_slopes")}
    loaded = scored_network(codes)
    loaded.load_state_dict(old)
    assert not loaded.code_scores.any() and not loaded.score_slopes.any()


def follower_rank_correlation(numeric_bins: list | None) -> float:
    """Spearman correlation of two 20-bin columns of a 40-column MADE (2 hidden units per
    degree) whose second follows the first within a bin, as loan amount and installment do,
    drawn after 150 steps of training with the platform's learning rates."""
    from anon_platform.generators.autoregressive.training import _parameter_groups

    torch.manual_seed(0)
    columns, rows, bins = 40, 512, 20
    net = OrderedMADE([], [bins] * columns, 80, 2, 4, numeric_bins=numeric_bins)
    generator = torch.Generator().manual_seed(0)

    def batch() -> torch.Tensor:
        codes = torch.randint(0, bins, (rows, columns), generator=generator)
        step = torch.randint(-1, 2, (rows,), generator=generator)
        codes[:, 1] = (codes[:, 0] + step).clamp(0, bins - 1)
        return codes

    net.fit_scores(batch().numpy())
    optimizer = torch.optim.Adam(_parameter_groups(net, 5e-3), lr=5e-3)
    ranks = torch.arange(1, columns + 1)
    for _ in range(150):
        optimizer.zero_grad()
        net.loss(batch(), ranks).backward()
        optimizer.step()
    drawn = (
        net.eval()
        .draw(
            torch.zeros((3000, 0), dtype=torch.long),
            torch.zeros((3000, columns), dtype=torch.long),
            torch.zeros(columns, dtype=torch.bool),
            ranks,
            torch.Generator().manual_seed(1),
        )
        .float()
    )
    ranked = drawn[:, :2].argsort(dim=0).argsort(dim=0).float()
    return float(torch.corrcoef(ranked.T)[0, 1])


def test_a_column_that_follows_another_by_rank_is_learnt_through_the_score_path() -> None:
    # the rows' own rank correlation is 0.99; measured 0.87 with the path, 0.09 without
    scored = follower_rank_correlation([(0, 20)] * 40)
    plain = follower_rank_correlation(None)
    assert scored > 0.8
    assert plain < 0.5
