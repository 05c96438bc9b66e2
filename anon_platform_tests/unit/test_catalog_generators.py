"""releases.yml names generators and their parameters; loading the catalog (and so `anon
validate` and the code location) refuses a name no backend is registered under and parameters
the backend would refuse, naming the file, the dataset and generator entry, and the misspelling
with the nearest valid name, before anything trains."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

import pytest

from anon_platform.catalog import load_catalog
from anon_platform.cli.main import main
from anon_platform.errors import CatalogError


def plan_generators(*generators: dict) -> Callable[[dict], None]:
    """A releases.yml edit: the bank dataset trains exactly `generators`."""

    def edit(plan: dict) -> None:
        plan["datasets"][0]["generators"] = list(generators)

    return edit


def test_a_misspelt_generator_name_is_named_with_the_nearest_backend(make_project) -> None:
    project = make_project(customers=20, releases=plan_generators({"name": "gausian_copula"}))
    with pytest.raises(CatalogError) as err:
        load_catalog(project)
    message = str(err.value)
    assert "releases.yml" in message
    assert "datasets[0] ('bank'): generators[0] ('gausian_copula')" in message
    assert "unknown generator 'gausian_copula' (did you mean 'gaussian_copula'?)" in message


def test_a_misspelt_parameter_is_named_with_the_nearest_parameter(make_project) -> None:
    generators = plan_generators(
        {"name": "gaussian_copula"},
        {"name": "autoregressive", "params": {"hidden_size": 64, "embedding_sise": 8}},
    )
    with pytest.raises(CatalogError) as err:
        load_catalog(make_project(customers=20, releases=generators))
    message = str(err.value)
    assert "releases.yml" in message
    assert "datasets[0] ('bank'): generators[1] ('autoregressive')" in message
    assert "embedding_sise" in message
    assert "did you mean 'embedding_size'?" in message


def test_a_parameter_out_of_its_bounds_is_named(make_project) -> None:
    generators = plan_generators({"name": "ctgan", "params": {"epochs": 0}})
    with pytest.raises(CatalogError) as err:
        load_catalog(make_project(customers=20, releases=generators))
    message = str(err.value)
    assert "generators[0] ('ctgan')" in message
    assert "epochs: Input should be greater than or equal to 1" in message


def test_a_parameter_of_the_wrong_type_is_named(make_project) -> None:
    generators = plan_generators(
        {"name": "gaussian_copula", "params": {"default_distribution": "cauchy"}}
    )
    with pytest.raises(
        CatalogError,
        match=r"generators\[0\] \('gaussian_copula'\).*"
        r"default_distribution",
    ):
        load_catalog(make_project(customers=20, releases=generators))


def test_valid_plans_of_every_shipped_backend_load(make_project) -> None:
    generators = plan_generators(
        {"name": "gaussian_copula", "params": {"default_distribution": "beta"}},
        {"name": "autoregressive", "params": {"hidden_size": 128, "embedding_size": 8}},
        {"name": "ctgan", "params": {"epochs": 2, "batch_size": 500}},
        {"name": "tvae", "params": {"epochs": 10}},
        {"name": "hma", "params": {"default_distribution": "norm"}},
    )
    catalog = load_catalog(make_project(customers=20, releases=generators))
    assert [g.name for g in catalog.releases["bank"].generators] == [
        "gaussian_copula",
        "autoregressive",
        "ctgan",
        "tvae",
        "hma",
    ]


@pytest.mark.parametrize(
    ("generator", "misspelling", "suggestion"),
    [
        ({"name": "gausian_copula"}, "gausian_copula", "gaussian_copula"),
        (
            {"name": "autoregressive", "params": {"embedding_sise": 8}},
            "embedding_sise",
            "embedding_size",
        ),
    ],
)
def test_anon_validate_exits_2_naming_file_place_and_misspelling(
    make_project, capsys, generator: dict, misspelling: str, suggestion: str
) -> None:
    project = make_project(customers=20, releases=plan_generators(generator))
    assert main(["--project", str(project), "validate"]) == 2
    captured = capsys.readouterr()
    assert "catalog OK" not in captured.out
    assert str(project / "dbt_like_sql" / "releases.yml") in captured.err
    assert "datasets[0] ('bank'): generators[0]" in captured.err
    assert f"'{misspelling}'" in captured.err or f"{misspelling}:" in captured.err
    assert f"did you mean '{suggestion}'?" in captured.err


def test_a_backend_that_cannot_train_on_the_dataset_is_refused_at_load(make_project) -> None:
    # clustmix makes a DP claim per row of one table; bank has customers and transactions
    generators = plan_generators({"name": "gaussian_copula"}, {"name": "clustmix"})
    with pytest.raises(CatalogError) as err:
        load_catalog(make_project(customers=20, releases=generators))
    message = str(err.value)
    assert "datasets[0] ('bank'): generators[1] ('clustmix')" in message
    assert "has 2 tables; only single-table datasets are supported" in message


def test_loading_the_catalog_imports_only_the_planned_backends(make_project) -> None:
    project = make_project(customers=20, releases=plan_generators({"name": "autoregressive"}))
    probe = (
        "import sys\n"
        "from anon_platform.catalog import load_catalog\n"
        f"load_catalog({str(project)!r})\n"
        "print('loaded:', sorted(m for m in ('anon_platform.generators.clustmix',"
        " 'anon_platform.generators.sdv_backends', 'anon_platform.generators.hma',"
        " 'anon_platform.generators.autoregressive', 'sdv') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "loaded: ['anon_platform.generators.autoregressive']" in result.stdout
