"""Input that is wrong is refused, naming table, column and what to do, never "learned": in the
pipeline's raw ingest and in every CLI command that reads files (`anon train`, `anon
evaluate`, `anon encoder train`). A `;`-separated file is sniffed and read, and says so."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from anon_platform.catalog import load_catalog
from anon_platform.cli.main import main
from anon_platform.errors import SourceDataError
from anon_platform.pipeline import steps
from anon_platform.storage import Zones
from anon_platform_tests.conftest import read_demo_csv

DATASET = "bank"
CUSTOMERS = 120
PEOPLE = 300
COLUMNS = ["customer_id", "age", "occupation", "income"]


def people(rows: int = PEOPLE) -> pl.DataFrame:
    """`rows` demo customers: an id, an age, an occupation and an income (all text)."""
    frame = read_demo_csv("customers").head(rows)
    return frame.select(
        "customer_id",
        (2025 - pl.col("date_of_birth").str.slice(0, 4).cast(pl.Int64))
        .cast(pl.String)
        .alias("age"),
        "occupation",
        "income",
    )


def csv_text(frame: pl.DataFrame, separator: str = ",") -> str:
    return frame.write_csv(separator=separator)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def anon(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    """`anon ARGS...` in-process: (exit status, stdout, stderr)."""
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def train(capsys: pytest.CaptureFixture[str], data: Path, *extra: str) -> tuple[int, str, str]:
    out = data.parent / f"{data.stem}_model"
    return anon(capsys, "train", data, "--generator", "gaussian_copula", "--out", out, *extra)


def refused(result: tuple[int, str, str], *parts: str) -> None:
    code, _, err = result
    assert code == 2, err
    notes, error = err.strip().splitlines()[:-1], err.strip().splitlines()[-1]
    assert error.startswith("error: "), err
    assert all(line.startswith("note: ") for line in notes), err  # settings notes may precede
    for part in parts:
        assert part in error
    assert "Traceback" not in err
    assert "truncate_ragged_lines" not in err


# --- the pipeline's raw ingest --------------------------------------------------------------


def ingest_customers(project: Path, home: Path) -> pl.DataFrame:
    return steps.ingest(load_catalog(project), Zones(home), DATASET, "customers").frame


def customers_csv(project: Path) -> Path:
    return project / "data" / "customers.csv"


def test_ingest_refuses_a_column_named_twice(make_project, anon_home: Path) -> None:
    project = make_project(customers=CUSTOMERS)
    path = customers_csv(project)
    lines = path.read_text().splitlines(keepends=True)
    write(path, lines[0].replace("gender", "income", 1) + "".join(lines[1:]))
    with pytest.raises(SourceDataError, match=r"column 'income'.*'income' occur more than once"):
        ingest_customers(project, anon_home)


def test_ingest_reads_a_semicolon_separated_file_by_sniffing_it(
    make_project, anon_home: Path
) -> None:
    project = make_project(customers=CUSTOMERS)
    path = customers_csv(project)
    write(path, csv_text(pl.read_csv(path, infer_schema=False), separator=";"))
    frame = ingest_customers(project, anon_home)
    assert frame.height == CUSTOMERS
    assert frame.schema["income"] == pl.Float64


def test_ingest_refuses_infinite_numbers_naming_the_column_and_count(
    make_project, anon_home: Path
) -> None:
    project = make_project(customers=CUSTOMERS)
    path = customers_csv(project)
    frame = pl.read_csv(path, infer_schema=False)
    income = frame["income"].scatter([2, 7], ["inf", "-inf"])
    write(path, csv_text(frame.with_columns(income)))
    with pytest.raises(SourceDataError) as err:
        ingest_customers(project, anon_home)
    assert "table 'customers', column 'income': 2 infinite value(s) (rows 3, 8)" in str(err.value)


def test_ingest_reads_nan_as_a_missing_value(make_project, anon_home: Path) -> None:
    project = make_project(customers=CUSTOMERS)
    path = customers_csv(project)
    frame = pl.read_csv(path, infer_schema=False)
    blank = frame["income"].is_null() | (frame["income"] == "")
    row = int(next(i for i, empty in enumerate(blank) if not empty))
    write(path, csv_text(frame.with_columns(frame["income"].scatter([row], ["NaN"]))))
    income = ingest_customers(project, anon_home)["income"]
    assert income[row] is None
    assert income.null_count() == int(blank.sum()) + 1
    assert income.is_nan().sum() == 0


def test_ingest_refuses_dates_in_mixed_formats(make_project, anon_home: Path) -> None:
    project = make_project(customers=CUSTOMERS)
    path = customers_csv(project)
    frame = pl.read_csv(path, infer_schema=False)
    born = frame["date_of_birth"]
    day, month, year = born[5][8:], born[5][5:7], born[5][:4]
    write(path, csv_text(frame.with_columns(born.scatter([5], [f"{day}/{month}/{year}"]))))
    with pytest.raises(SourceDataError) as err:
        ingest_customers(project, anon_home)
    message = str(err.value)
    assert "column 'date_of_birth': dates in mixed formats" in message
    assert f"{CUSTOMERS - 1} like YYYY-MM-DD, 1 like DD/MM/YYYY" in message
    assert "write every date as YYYY-MM-DD" in message


def test_ingest_refuses_a_table_below_the_minimum_row_count(make_project, anon_home: Path) -> None:
    project = make_project(customers=10)
    with pytest.raises(SourceDataError, match=r"table 'customers': 10 row\(s\), fewer than the 50"):
        ingest_customers(project, anon_home)


def test_the_minimum_row_count_is_set_per_table_in_sources_yml(
    make_project, anon_home: Path
) -> None:
    def lower(spec: dict) -> None:
        for table in spec["sources"][0]["tables"]:
            table["min_rows"] = 5

    project = make_project(customers=10, sources=lower)
    assert ingest_customers(project, anon_home).height == 10


def test_ingest_names_the_ragged_row_without_the_readers_advice(
    make_project, anon_home: Path
) -> None:
    project = make_project(customers=CUSTOMERS)
    path = customers_csv(project)
    lines = path.read_text().splitlines(keepends=True)
    lines[4] = lines[4].rstrip("\n") + ",extra\n"
    write(path, "".join(lines))
    with pytest.raises(SourceDataError) as err:
        ingest_customers(project, anon_home)
    message = str(err.value)
    assert "row 4 has 13 fields where the header has 12" in message
    assert "truncate_ragged_lines" not in message


# --- the command line -----------------------------------------------------------------------


def test_train_refuses_a_column_named_twice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = csv_text(people()).replace("occupation", "age", 1)
    data = write(tmp_path / "people.csv", text)
    refused(
        train(capsys, data),
        "table 'people', column 'age'",
        "'age' occur more than once: give every column its own name",
    )


def test_evaluate_and_encoder_train_refuse_a_column_named_twice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write(tmp_path / "people.csv", csv_text(people()).replace("occupation", "age", 1))
    files = ["--train", data, "--holdout", data, "--synthetic", data]
    refused(anon(capsys, "evaluate", *files), "column 'age'", "occur more than once")
    encoder = ["encoder", "train", data, "--out", tmp_path / "enc"]
    refused(anon(capsys, *encoder), "column 'age'", "occur more than once")


def test_train_sniffs_a_semicolon_separated_file_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write(tmp_path / "people.csv", csv_text(people(), separator=";"))
    code, out, err = train(capsys, data)
    assert code == 0, err
    assert f"note: {data}: read as ';'-separated (4 columns)" in err
    assert "customer_id;age" not in out
    assert "income                       float     attribute" in out


def test_train_refuses_a_one_column_file_whose_rows_do_not_split_and_suggests_the_separator(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = csv_text(people(), separator=";").splitlines(keepends=True)
    lines[3] = lines[3].rstrip("\n") + ";extra\n"
    data = write(tmp_path / "people.csv", "".join(lines))
    refused(
        train(capsys, data),
        "reads as one column whose name holds ';'",
        "save it comma-separated",
    )


def test_train_refuses_infinite_numbers_naming_column_and_count(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = people()
    frame = frame.with_columns(frame["income"].scatter([0, 9, 10], "inf"))
    data = write(tmp_path / "people.csv", csv_text(frame))
    refused(
        train(capsys, data),
        "table 'people', column 'income': 3 infinite value(s) (rows 1, 10, 11)",
        "replace them with a number, or leave the cell empty",
    )


def test_evaluate_refuses_infinite_numbers_in_the_synthetic_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = people()
    train_csv = write(tmp_path / "train.csv", csv_text(frame.head(150)))
    holdout = write(tmp_path / "holdout.csv", csv_text(frame.slice(150)))
    synthetic = frame.slice(150).with_columns(frame.slice(150)["income"].scatter([4], "-inf"))
    syn = write(tmp_path / "syn.csv", csv_text(synthetic))
    files = ["--train", train_csv, "--holdout", holdout, "--synthetic", syn]
    refused(anon(capsys, "evaluate", *files), "table 'synthetic', column 'income'", "(row 5)")


def test_train_refuses_a_one_row_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write(tmp_path / "people.csv", csv_text(people(1)))
    refused(
        train(capsys, data),
        "table 'people': 1 row(s), fewer than the 50 a table needs for synthesis",
        "add rows, or lower the minimum if you accept that risk (anon train --min-rows N;",
    )


def test_train_minimum_row_count_is_set_with_min_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write(tmp_path / "people.csv", csv_text(people(80)))
    refused(train(capsys, data, "--min-rows", "100"), "80 row(s), fewer than the 100")


def test_train_refuses_dates_in_mixed_formats(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    born = read_demo_csv("customers").head(PEOPLE)["date_of_birth"]
    us_style = [f"{d[5:7]}/{d[8:]}/{d[:4]}" for d in born.head(20)]
    frame = people().with_columns(born.scatter(list(range(20)), us_style).alias("born"))
    data = write(tmp_path / "people.csv", csv_text(frame))
    refused(
        train(capsys, data),
        "table 'people', column 'born': dates in mixed formats (280 like YYYY-MM-DD, ",
        "write every date as YYYY-MM-DD",
    )


def test_train_names_a_ragged_row_instead_of_the_readers_advice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = csv_text(people()).splitlines(keepends=True)
    lines[7] = lines[7].rstrip("\n") + ",1\n"
    data = write(tmp_path / "people.csv", "".join(lines))
    refused(train(capsys, data), "row 7 has 5 fields where the header has 4", "quote fields")


def test_train_refuses_a_file_that_is_not_utf8(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "people.csv"
    data.write_bytes(csv_text(people()).replace("income", "revenu_année").encode("latin-1"))
    refused(train(capsys, data), "is not UTF-8 text", "save it as UTF-8")


# --- role inference -------------------------------------------------------------------------


def test_train_infers_a_near_unique_string_column_as_an_identifier_and_never_emits_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = people().with_columns(
        (pl.lit("AC-") + pl.col("customer_id").str.reverse()).alias("account_ref")
    )
    data = write(tmp_path / "people.csv", csv_text(frame))
    code, out, err = train(capsys, data)
    assert code == 0, err
    assert "account_ref                  string    identifier (fake token)" in out
    assert "column 'account_ref': near-unique (300 distinct values in 300 rows)" in err
    synthetic = tmp_path / "synthetic.csv"
    code, _, err = anon(
        capsys, "generate", tmp_path / "people_model", "-n", "200", "--out", synthetic
    )
    assert code == 0, err
    emitted = pl.read_csv(synthetic, infer_schema=False)["account_ref"]
    assert emitted.null_count() == 0
    assert not emitted.is_in(frame["account_ref"].implode()).any()


def test_train_keeps_a_repeating_string_column_as_an_attribute(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write(tmp_path / "people.csv", csv_text(people()))
    code, out, err = train(capsys, data)
    assert code == 0, err
    assert "occupation                   string    attribute" in out
    assert "near-unique" not in err
