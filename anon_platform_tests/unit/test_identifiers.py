"""Fake identifiers: same kind as the source's column, valid check digits, never a source value."""

from __future__ import annotations

import re

import polars as pl
import pytest

from anon_platform.errors import GeneratorError
from anon_platform.gates.synthetic import check_synthetic_tables
from anon_platform.generators.identifiers import (
    IdentifierBlocklist,
    fake_values,
    fill_identifiers,
    infer_kind,
    is_valid_national_id,
    luhn_check_digit,
)
from anon_platform_tests.conftest import read_demo_csv

ROWS = 400


@pytest.fixture(scope="module")
def customers() -> pl.DataFrame:
    return read_demo_csv("customers")


@pytest.fixture(scope="module")
def blocklist(customers: pl.DataFrame) -> IdentifierBlocklist:
    columns = ("full_name", "email", "phone", "national_id")
    return IdentifierBlocklist.from_values({c: customers[c] for c in columns})


@pytest.mark.parametrize(
    ("column", "kind"),
    [
        ("full_name", "name"),
        ("Name", "name"),
        ("email", "email"),
        ("E-Mail", "email"),
        ("phone", "phone"),
        ("mobile_number", "phone"),
        ("national_id", "national_id"),
        ("SSN", "national_id"),
        ("iban", "iban"),
        ("surname", "last_name"),
        ("income", None),
        ("occupation", None),
    ],
)
def test_kind_is_inferred_from_the_column_name(column: str, kind: str | None) -> None:
    assert infer_kind(column) == kind


def test_every_demo_national_id_passes_the_luhn_check(customers: pl.DataFrame) -> None:
    assert all(is_valid_national_id(v) for v in customers["national_id"].to_list())


def test_a_national_id_with_a_changed_check_digit_is_invalid(customers: pl.DataFrame) -> None:
    value = customers["national_id"][0]
    wrong = value[:-1] + str((int(value[-1]) + 1) % 10)
    assert not is_valid_national_id(wrong)


def test_luhn_check_digit_of_a_known_number() -> None:
    # 7992739871 is the textbook Luhn example: its check digit is 3
    assert luhn_check_digit("7992739871") == 3


def test_fake_national_ids_have_the_demo_format_and_a_valid_check_digit(
    blocklist: IdentifierBlocklist,
) -> None:
    values = fake_values("national_id", ROWS, blocklist, seed=1)
    assert all(is_valid_national_id(v) for v in values)
    assert len(set(values)) == ROWS


@pytest.mark.parametrize(
    ("kind", "pattern"),
    [
        ("email", r"^[^@\s]+@[^@\s]+\.[a-z]+$"),
        ("phone", r"^[+0-9() ]{9,}$"),
        ("name", r"^[A-Z][A-Za-z'.-]+( [A-Z][A-Za-z'.-]+)+$"),
        ("iban", r"^GB\d{2}[A-Z]{4}\d{14}$"),
    ],
)
def test_fake_values_look_like_their_kind(
    blocklist: IdentifierBlocklist, kind: str, pattern: str
) -> None:
    values = fake_values(kind, ROWS, blocklist, seed=2)
    assert all(re.match(pattern, v) for v in values), [
        v for v in values if not re.match(pattern, v)
    ][:3]


@pytest.mark.parametrize("column", ["full_name", "email", "phone", "national_id"])
def test_no_fake_value_equals_a_source_value(
    customers: pl.DataFrame, blocklist: IdentifierBlocklist, column: str
) -> None:
    kind = infer_kind(column)
    values = fake_values(kind, 5000, blocklist, seed=3)
    source = set(customers[column].str.strip_chars().str.to_lowercase().to_list())
    assert not source & {v.strip().lower() for v in values}


def test_a_source_value_is_redrawn_not_released() -> None:
    # the blocklist holds the first value seed 7 would draw, so that value must not come out
    first = fake_values("email", 1, IdentifierBlocklist("salt"), seed=7)[0]
    blocked = IdentifierBlocklist.from_values({"email": pl.Series([first.upper() + " "])})
    values = fake_values("email", 50, blocked, seed=7)
    assert first not in values
    assert len(values) == 50


def test_the_same_seed_gives_the_same_fake_values(blocklist: IdentifierBlocklist) -> None:
    assert fake_values("name", 50, blocklist, seed=9) == fake_values("name", 50, blocklist, seed=9)
    assert fake_values("name", 50, blocklist, seed=9) != fake_values("name", 50, blocklist, 10)


def test_a_kind_that_cannot_avoid_the_source_raises_generator_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from anon_platform.generators import identifiers

    monkeypatch.setitem(identifiers._MAKERS, "token", lambda faker: "0000")
    blocked = IdentifierBlocklist.from_values({"token": pl.Series(["0000"])})
    with pytest.raises(GeneratorError, match="'token'"):
        fake_values("token", 1, blocked, seed=0)


def test_filled_table_passes_the_synthetic_gate_leak_check(
    customers: pl.DataFrame, blocklist: IdentifierBlocklist
) -> None:
    from anon_platform.catalog.schema import ColumnSchema, DatasetSchema, TableSchema
    from anon_platform.catalog.specs import ColumnType, Role

    kinds = {"full_name": "name", "email": "email", "phone": "phone", "national_id": "national_id"}
    synthetic = fill_identifiers(pl.DataFrame({"row": range(ROWS)}), kinds, blocklist, seed=5)
    columns = [ColumnSchema(name=c, type=ColumnType.STRING, role=Role.ATTRIBUTE) for c in kinds]
    schema = DatasetSchema(
        name="bank",
        tables=(
            TableSchema(
                name="customers",
                columns=(
                    ColumnSchema(name="row", type=ColumnType.INTEGER, role=Role.ATTRIBUTE),
                    *columns,
                ),
            ),
        ),
    )
    # train = the synthetic table itself, so that only the identifier check can fail
    gate = check_synthetic_tables(
        schema,
        {"customers": synthetic},
        {"customers": synthetic},
        {f"customers.{c}": customers[c] for c in kinds},
    )
    leak = next(e for e in gate.expectations if "identifier value" in e.name)
    assert leak.passed, leak
    assert synthetic.columns == ["row", *kinds]


def test_release_identifiers_fill_only_the_requested_columns_of_each_table(
    customers: pl.DataFrame,
) -> None:
    from anon_platform.generators.identifiers import fill_release_identifiers

    tables = {"customers": pl.DataFrame({"customer_id": range(50)}), "other": pl.DataFrame()}
    filled = fill_release_identifiers(
        tables, {"customers": {"email": "email"}}, {"customers.email": customers["email"]}, seed=1
    )
    assert filled["customers"].columns == ["customer_id", "email"]
    assert not filled["customers"]["email"].is_in(customers["email"].implode()).any()
    assert filled["other"].equals(tables["other"])
