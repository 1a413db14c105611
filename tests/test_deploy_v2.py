"""Azure ML SDK v2 deployment (``azure-ai-ml``, managed online endpoints), built and checked offline.

This module needs neither azureml-core (SDK v1) nor a workspace. What does not need ``azure-ai-ml``
(the conda file, argument checks made before the SDK is imported, the cloud and local-Docker steps
against a stand-in client) runs everywhere. What builds the SDK's own objects (and has its schemas
dump them to YAML and load them back, or has a real ``MLClient`` start a local run) takes the
``ml`` fixture: without ``azure-ai-ml`` it skips, saying why.

``azure-ai-ml`` lives in an environment of its own (``.venv-v2``, heedu's ``azure-v2`` extra; its
OpenTelemetry requirements clash with azureml-inference-server-http's exact pins). There, set
``HEEDU_REQUIRE_AZURE_V2=1``: a missing or broken ``azure-ai-ml`` (or ``azure-identity``) then
FAILS these tests instead of skipping them, so CI cannot pass by silently testing nothing.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest

from azure_adapter import deploy_common as common
from azure_adapter import deploy_v2 as d2
from heedu import HeeduError, __version__

REQUIRE_V2 = os.environ.get("HEEDU_REQUIRE_AZURE_V2", "").strip().lower() in {"1", "true", "yes"}
ADAPTER_DIR = Path(d2.__file__).resolve().parent
ROOT = ADAPTER_DIR.parent

# azure-ai-ml's marshmallow schemas announce marshmallow 4 while being defined, on import and on
# every dump and load; none of it concerns heedu's code.
pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning:azure.ai.ml"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:marshmallow"),
    pytest.mark.filterwarnings("ignore:.*marshmallow.*:DeprecationWarning"),
]


_DISTRIBUTIONS = {"azure.ai.ml": "azure-ai-ml", "azure.identity": "azure-identity"}


def _sdk(module: str) -> ModuleType:
    """``module`` imported; or a skip saying why, which becomes a failure under HEEDU_REQUIRE_AZURE_V2=1."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return importlib.import_module(module)
    except ImportError as exc:
        reason = (
            f"{_DISTRIBUTIONS.get(module, module)} is not importable here ({exc}): heedu's 'azure-v2' extra, kept "
            "out of the main environment (its OpenTelemetry pins clash with the inference server's); "
            "`make test` runs these tests in .venv-v2"
        )
        if REQUIRE_V2:
            pytest.fail(f"HEEDU_REQUIRE_AZURE_V2 is set, so this is a failure, not a skip: {reason}", pytrace=False)
        pytest.skip(reason)


@pytest.fixture
def ml() -> ModuleType:
    """``azure.ai.ml``, the SDK v2 (skip without it, fail without it under HEEDU_REQUIRE_AZURE_V2=1)."""
    return _sdk("azure.ai.ml")


@pytest.fixture
def identity(ml: ModuleType) -> ModuleType:
    """``azure.identity``, for get_ml_client's default credential (same rule as ``ml``)."""
    return _sdk("azure.identity")


@pytest.fixture
def source_dir(tmp_path: Path) -> Path:
    """A directory holding a minimal scoring script, as make_code_configuration requires."""
    code = tmp_path / "code"
    code.mkdir()
    (code / "score.py").write_text("def init():\n    pass\n\n\ndef run(raw_data):\n    return raw_data\n")
    return code


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    path = tmp_path / "sklearn_mnist_model.pkl"
    path.write_bytes(b"pickle")
    return path


def _write_config(folder: Path, **content: str) -> Path:
    content = content or {"subscription_id": "sub", "resource_group": "rg", "workspace_name": "ws"}
    path = folder / "config.json"
    path.write_text(json.dumps(content))
    return path


class UnusableCredential:
    """A credential that fails the test if anything asks it for a token: the step was meant to stay offline."""

    def get_token(self, *scopes, **kwargs):
        pytest.fail(f"a credential was asked for a token ({scopes}): the step was meant to stay offline")

    get_token_info = get_token


# -------------------------------------------------------------------------- the environment itself


def test_the_v2_environment_is_the_one_ci_asks_for(ml: ModuleType) -> None:
    """In .venv-v2 (HEEDU_REQUIRE_AZURE_V2=1) this fails without the SDK; elsewhere it skips."""
    from importlib.metadata import version

    installed = version("azure-ai-ml")
    major, minor = (int(part) for part in re.match(r"(\d+)\.(\d+)", installed).groups())
    assert (1, 35) <= (major, minor) < (2, 0), installed  # pyproject: azure-ai-ml>=1.35.2,<2
    if REQUIRE_V2:
        _sdk("azure.identity")


def test_the_v2_module_imports_without_sdk_v1() -> None:
    """azureml-core (SDK v1) is past its end of support: deploy_v2 must import and build without it."""
    script = (
        "import sys\n"
        "sys.modules['azureml'] = None  # any `import azureml...` now fails\n"
        "from azure_adapter import deploy_v2 as d2\n"
        "assert d2.conda_dict(backend='seal')['dependencies'][2]['pip'][-1] == 'encrypted-inference==0.9'\n"
        "print(sorted(name for name in sys.modules if name.startswith('azureml')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "['azureml']", result.stdout  # only the blocking entry itself


def test_the_v2_deployment_does_not_lean_on_the_deprecated_v1_module() -> None:
    """v2 shares only azure_adapter.deploy_common with v1, never azure_adapter.deploy or azureml."""
    tree = ast.parse(Path(d2.__file__).read_text(encoding="utf-8"))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert "azure_adapter.deploy" not in imported and "deploy" not in imported
    assert not [name for name in imported if name.startswith("azureml")]
    assert "azure_adapter.deploy_common" in imported


def test_v2_errors_are_the_shared_ones() -> None:
    assert d2.DeploymentArgumentError is common.DeploymentArgumentError
    assert d2.AzureConfigurationError is common.AzureConfigurationError
    assert d2.AzureSDKNotInstalledError is common.AzureSDKNotInstalledError
    assert d2.DeploymentError is common.DeploymentError
    assert issubclass(d2.DeploymentArgumentError, ValueError) and issubclass(d2.DeploymentArgumentError, HeeduError)
    assert issubclass(d2.AzureSDKNotInstalledError, ImportError)


# ------------------------------------------------------------------------ conda file, no SDK needed


def test_conda_yaml_matches_conda_dict() -> None:
    yaml = pytest.importorskip("yaml")
    for backend in common.BACKENDS:
        text = d2.conda_yaml(backend=backend)
        assert yaml.safe_load(text) == d2.conda_dict(backend=backend)
    spec = d2.conda_dict(backend="seal", python_version="3.12")
    assert spec["channels"] == ["conda-forge"]
    assert spec["dependencies"][:2] == ["python=3.12", "pip"]
    assert "encrypted-inference==0.9" in spec["dependencies"][2]["pip"]
    assert spec["dependencies"][2]["pip"][0] == f"heedu=={__version__}"
    url = "heedu @ https://example.invalid/a#b/heedu-0.1.0-py3-none-any.whl"
    assert yaml.safe_load(d2.conda_yaml(url))["dependencies"][2]["pip"][0] == url
    with pytest.raises(common.DeploymentArgumentError, match="does not name heedu"):
        d2.conda_yaml("tenseal")


def test_conda_dict_installs_what_score_py_needs() -> None:
    pip = d2.conda_dict()["dependencies"][2]["pip"]
    assert pip == common.pip_requirements()
    names = {p.split(">")[0].split("=")[0].split("<")[0] for p in pip}
    assert {"heedu", "numpy", "scikit-learn", "azure-storage-blob", "azureml-inference-server-http"} <= names
    assert not any(p.startswith("encrypted-inference") for p in pip)
    assert d2.conda_dict(extra_pip_packages=["joblib>=1.3"])["dependencies"][2]["pip"][-1] == "joblib>=1.3"


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"backend": "tenseal"}, "backend must be one of"),
        ({"heedu_requirement": "heedu --extra-index-url http://x"}, "not pip options"),
        ({"python_version": "3.9"}, "3.10' or later"),
        ({"extra_pip_packages": "joblib"}, "a list of requirements"),
        ({"extra_pip_packages": ["-r other.txt"]}, "not pip options"),
    ],
)
def test_conda_dict_rejects_bad_arguments(kwargs: dict, expected: str) -> None:
    with pytest.raises(common.DeploymentArgumentError, match=expected):
        d2.conda_dict(**kwargs)


def test_missing_sdk_v2_is_reported_with_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "azure.ai.ml", None)  # makes `import azure.ai.ml` fail, installed or not
    with pytest.raises(common.AzureSDKNotInstalledError, match=r"pip install 'heedu\[azure-v2\]'") as info:
        d2.make_endpoint("heedu-mnist")
    assert isinstance(info.value, ImportError)


# --------------------------------------------------------------------------------- workspace client


def test_get_ml_client_without_config_explains_how_to_create_one(tmp_path: Path) -> None:
    if common.find_workspace_config(tmp_path) is not None:
        pytest.skip("a parent of the temporary directory holds an Azure ML config.json")
    with pytest.raises(common.AzureConfigurationError, match="No Azure ML workspace configuration found") as info:
        d2.get_ml_client(tmp_path)
    assert "https://ml.azure.com" in str(info.value)


def test_get_ml_client_reports_a_broken_config_before_importing_the_sdk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "azure.ai.ml", None)  # the file is read first, whether the SDK is there or not
    (tmp_path / "config.json").write_text('{"subscription_id": "s", "resource_group": "r"}')
    with pytest.raises(common.AzureConfigurationError, match="lacks workspace_name"):
        d2.get_ml_client(tmp_path)


def test_get_ml_client_builds_the_client_offline(ml: ModuleType, tmp_path: Path) -> None:
    client = d2.get_ml_client(_write_config(tmp_path), credential=UnusableCredential())
    assert isinstance(client, ml.MLClient)
    assert (client.subscription_id, client.resource_group_name, client.workspace_name) == ("sub", "rg", "ws")
    scope = "/subscriptions/sub2/resourceGroups/rg2/providers/Microsoft.MachineLearningServices/workspaces/ws2"
    (tmp_path / "scoped").mkdir()
    (tmp_path / "scoped" / "config.json").write_text(json.dumps({"Scope": scope}))
    client = d2.get_ml_client(tmp_path / "scoped", credential=UnusableCredential())
    assert (client.subscription_id, client.resource_group_name, client.workspace_name) == ("sub2", "rg2", "ws2")


def test_get_ml_client_defaults_to_default_azure_credential(
    identity: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = []

    class RecordingCredential(UnusableCredential):
        def __init__(self) -> None:
            made.append(self)

    monkeypatch.setattr(identity, "DefaultAzureCredential", RecordingCredential)
    client = d2.get_ml_client(_write_config(tmp_path))
    assert len(made) == 1 and client.workspace_name == "ws"


def test_get_ml_client_without_azure_identity_says_what_to_install(
    ml: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "azure.identity", None)
    with pytest.raises(common.AzureSDKNotInstalledError, match=r"azure-identity.*heedu\[azure-v2\]"):
        d2.get_ml_client(_write_config(tmp_path))
    assert d2.get_ml_client(tmp_path, credential=UnusableCredential()).workspace_name == "ws"  # a credential suffices


def test_get_ml_client_wraps_sdk_failures(ml: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise ValueError("credential can not be None\nlong SDK details")

    monkeypatch.setattr(ml, "MLClient", refuse)
    config = _write_config(tmp_path)
    with pytest.raises(common.AzureConfigurationError, match="credential can not be None") as info:
        d2.get_ml_client(config, credential=UnusableCredential())
    assert str(config) in str(info.value) and "long SDK details" not in str(info.value)
    assert isinstance(info.value.azure_error, ValueError)


# ---------------------------------------------------------------------- the SDK's objects, offline


def test_v2_build_makes_a_consistent_endpoint_and_deployment(
    ml: ModuleType, source_dir: Path, model_file: Path, tmp_path: Path
) -> None:
    from azure.ai.ml.entities import ManagedOnlineDeployment, ManagedOnlineEndpoint

    spec = d2.build("heedu-mnist", model_path=model_file, code=source_dir, backend="seal", instance_count=3)
    endpoint, deployment = spec.endpoint, spec.deployment
    assert isinstance(endpoint, ManagedOnlineEndpoint) and isinstance(deployment, ManagedOnlineDeployment)
    assert (endpoint.name, endpoint.auth_mode) == ("heedu-mnist", "key")
    assert endpoint.tags == {"data": "MNIST", "method": "sklearn", "encryption": "heedu-ckks"}
    assert (deployment.name, deployment.endpoint_name) == ("heedu", "heedu-mnist")
    assert (deployment.instance_type, deployment.instance_count) == ("Standard_DS3_v2", 3)
    assert deployment.environment_variables == {"HEEDU_BACKEND": "seal"}
    assert deployment.code_configuration.scoring_script == "score.py"
    assert Path(deployment.code_configuration.code) == source_dir
    assert deployment.model.type == "custom_model" and deployment.model.name == "sklearn-mnist"
    assert Path(deployment.model.path) == model_file
    assert deployment.environment.image == d2.DEFAULT_IMAGE
    assert deployment.environment.conda_file == d2.conda_dict(backend="seal")
    assert deployment.request_settings.request_timeout_ms == 60_000
    assert deployment.request_settings.max_concurrent_requests_per_instance == 1
    # The SDK's own schema accepts what was built: dump to YAML and load it back.
    deployment.dump(tmp_path / "deployment.yaml")
    loaded = ml.load_online_deployment(tmp_path / "deployment.yaml")
    assert loaded.environment_variables == {"HEEDU_BACKEND": "seal"} and loaded.instance_count == 3
    assert (loaded.name, loaded.endpoint_name, loaded.instance_type) == ("heedu", "heedu-mnist", "Standard_DS3_v2")
    assert loaded.code_configuration.scoring_script == "score.py"
    assert loaded.request_settings.max_concurrent_requests_per_instance == 1
    assert loaded.environment.conda_file == d2.conda_dict(backend="seal")


def test_v2_endpoint_survives_the_sdks_schema(ml: ModuleType, tmp_path: Path) -> None:
    endpoint = d2.make_endpoint("heedu-mnist", auth_mode="aml_token", tags={"team": "he"})
    # ManagedOnlineEndpoint.dump ignores its destination and returns the schema's dict: write that (JSON is YAML).
    (tmp_path / "endpoint.yaml").write_text(json.dumps(endpoint.dump()), encoding="utf-8")
    loaded = ml.load_online_endpoint(tmp_path / "endpoint.yaml")
    assert isinstance(loaded, ml.entities.ManagedOnlineEndpoint)
    assert (loaded.name, loaded.auth_mode, loaded.tags) == ("heedu-mnist", "aml_token", {"team": "he"})


def test_v2_environment_survives_the_sdks_schema(ml: ModuleType, tmp_path: Path) -> None:
    environment = d2.make_environment(
        "heedu-seal", backend="seal", version="3", python_version="3.12", extra_pip_packages=["joblib>=1.3"]
    )
    assert (environment.name, environment.version, environment.image) == ("heedu-seal", "3", d2.DEFAULT_IMAGE)
    expected = d2.conda_dict(backend="seal", python_version="3.12", extra_pip_packages=["joblib>=1.3"])
    assert environment.conda_file == expected
    environment.dump(tmp_path / "environment.yaml")
    loaded = ml.load_environment(tmp_path / "environment.yaml")
    assert (loaded.name, loaded.version, loaded.image) == ("heedu-seal", "3", d2.DEFAULT_IMAGE)
    assert loaded.conda_file == expected


def test_v2_model_survives_the_sdks_schema(ml: ModuleType, model_file: Path, tmp_path: Path) -> None:
    model = d2.make_model(model_file, "sklearn-mnist", version="2")
    assert (model.name, model.version, model.type) == ("sklearn-mnist", "2", "custom_model")
    model.dump(tmp_path / "model.yaml")
    loaded = ml.load_model(tmp_path / "model.yaml")
    assert (loaded.name, loaded.version, loaded.type) == ("sklearn-mnist", "2", "custom_model")
    assert Path(loaded.path).name == model_file.name


@pytest.mark.skipif(not (ADAPTER_DIR / "score.py").is_file(), reason="azure_adapter/score.py is not in this tree")
def test_v2_build_serves_heedus_own_scoring_script(ml: ModuleType, model_file: Path) -> None:
    spec = d2.build("heedu-mnist", model_path=model_file, code=ADAPTER_DIR, auth_mode="aad_token")
    assert Path(spec.deployment.code_configuration.code) == ADAPTER_DIR
    assert spec.deployment.environment_variables == {"HEEDU_BACKEND": "heedu"}
    assert spec.endpoint.auth_mode == "aad_token"
    pip = spec.deployment.environment.conda_file["dependencies"][2]["pip"]
    assert pip[0] == f"heedu=={__version__}" and "encrypted-inference==0.9" not in pip


def test_v2_deployment_takes_registered_assets_by_reference(ml: ModuleType, source_dir: Path) -> None:
    deployment = d2.make_deployment(
        "heedu-mnist",
        "azureml:sklearn-mnist:1",
        "azureml:heedu-encrypted-inference:4",
        d2.make_code_configuration(source_dir),
        backend="seal",  # the referenced environment's packages cannot be checked offline
        environment_variables={"HEEDU_KEY_STORE_CONTAINER": "keys"},
        request_timeout_ms=180_000,
    )
    assert deployment.model == "azureml:sklearn-mnist:1"
    assert deployment.environment == "azureml:heedu-encrypted-inference:4"
    assert deployment.environment_variables == {"HEEDU_BACKEND": "seal", "HEEDU_KEY_STORE_CONTAINER": "keys"}
    assert deployment.request_settings.request_timeout_ms == 180_000


def test_v2_builders_reject_bad_arguments(ml: ModuleType, source_dir: Path, tmp_path: Path) -> None:
    code = d2.make_code_configuration(source_dir)
    heedu_env = d2.make_environment()
    cases = [
        (lambda: d2.make_endpoint("1-heedu"), "endpoint name"),
        (lambda: d2.make_endpoint("heedu-mnist", auth_mode="none"), "auth_mode"),
        (lambda: d2.make_endpoint("heedu-mnist", tags={"n": 1}), "mapping of str to str"),
        (lambda: d2.make_environment(image="bad image"), "container image"),
        (lambda: d2.make_environment(name="azureml-heedu"), "reserved"),
        (lambda: d2.make_environment(version="1 0"), "environment version"),
        (lambda: d2.make_environment(heedu_requirement="numpy"), "does not name heedu"),
        (lambda: d2.make_model(tmp_path / "missing.pkl"), "does not exist"),
        (lambda: d2.make_model(source_dir / "score.py", "bad name!"), "model name"),
        (lambda: d2.make_code_configuration(tmp_path / "missing"), "directory holding"),
        (lambda: d2.make_code_configuration(source_dir, "main.py"), "not found"),
        (lambda: d2.make_code_configuration(source_dir, "score.txt"), r"\.py file"),
        (lambda: d2.make_code_configuration(source_dir, "../score.py"), "inside code"),
        (lambda: d2.make_deployment("heedu-mnist", "azureml:m:1", heedu_env, code, backend="seal"), "needs encrypted"),
        (lambda: d2.make_deployment("heedu-mnist", "azureml:m:1", heedu_env, code, backend="tenseal"), "backend"),
        (lambda: d2.make_deployment("heedu-mnist", "azureml:m:1", heedu_env, code, instance_count=0), ">= 1"),
        (lambda: d2.make_deployment("heedu-mnist", "azureml:m:1", heedu_env, code, instance_type="DS3"), "VM size"),
        (lambda: d2.make_deployment("heedu-mnist", "azureml:m:1", heedu_env, code, name="x"), "deployment name"),
        (lambda: d2.make_deployment("heedu-mnist", 3, heedu_env, code), "model must be"),
        (lambda: d2.make_deployment("heedu-mnist", "azureml:m:1", 3, code), "environment must be"),
        (lambda: d2.make_deployment("heedu-mnist", "azureml:m:1", heedu_env, "score.py"), "code_configuration"),
        (
            lambda: d2.make_deployment(
                "heedu-mnist", "azureml:m:1", heedu_env, code, environment_variables={"HEEDU_BACKEND": "seal"}
            ),
            "backend argument",
        ),
        (
            lambda: d2.make_deployment("heedu-mnist", "azureml:m:1", heedu_env, code, request_timeout_ms=300_000),
            "between 1 and 180000",
        ),
    ]
    for make, expected in cases:
        with pytest.raises(common.DeploymentArgumentError, match=expected):
            make()


# -------------------------------------------------------- cloud and local steps, stand-in client


class FakePoller:
    def __init__(self, value=None, error: Exception | None = None) -> None:
        self.value, self.error = value, error

    def result(self):
        if self.error:
            raise self.error
        return self.value


class FakeOperations:
    """``ml_client.online_endpoints`` or ``online_deployments`` as the SDK behaves, recording every call.

    As in azure-ai-ml, a ``begin_*`` call returns a poller in Azure, but with ``local=True`` (local
    Docker) it does the work at once and returns the result itself (the entity, or None for a delete).
    """

    def __init__(self, fail_on: str | None = None, logs: str | None = "Traceback: score.py init failed") -> None:
        self.calls: list[tuple] = []
        self.fail_on, self.logs = fail_on, logs

    def _answer(self, value, error, local):
        if local:
            if error:
                raise error
            return value
        return FakePoller(value, error)

    def begin_create_or_update(self, entity, *, local=False):
        self.calls.append(("create", entity.name, dict(getattr(entity, "traffic", None) or {}), local))
        return self._answer(entity, RuntimeError("quota exceeded") if self.fail_on == entity.name else None, local)

    def get(self, name, *, local=False):
        self.calls.append(("get", name, local))
        host = "localhost:32768" if local else f"{name}.westeurope.inference.ml.azure.com"
        return SimpleNamespace(name=name, scoring_uri=f"https://{host}/score")

    def get_logs(self, name, endpoint_name, lines, *, local=False):
        self.calls.append(("logs", name, endpoint_name, lines, local))
        if self.logs is None:
            raise RuntimeError("the container never started")
        return self.logs

    def invoke(self, endpoint_name, *, request_file=None, deployment_name=None, local=False):
        self.calls.append(("invoke", endpoint_name, Path(request_file).read_bytes(), deployment_name, local))
        self.request_file = request_file
        return '{"ok": true}'

    def get_keys(self, name):
        self.calls.append(("keys", name))
        return SimpleNamespace(primary_key="primary-key", secondary_key="secondary-key")

    def begin_delete(self, name=None, *, local=False):
        self.calls.append(("delete", name, local))
        return self._answer(None, RuntimeError("endpoint is locked") if self.fail_on == name else None, local)


def _client(**deployments) -> SimpleNamespace:
    return SimpleNamespace(online_endpoints=FakeOperations(), online_deployments=FakeOperations(**deployments))


def _fake_spec() -> d2.OnlineDeploymentSpec:
    return d2.OnlineDeploymentSpec(SimpleNamespace(name="heedu-mnist", traffic={}), SimpleNamespace(name="heedu"))


def test_v2_cloud_steps_against_a_stand_in_client() -> None:
    client = _client()
    endpoint = d2.deploy(client, _fake_spec())
    assert endpoint.scoring_uri == "https://heedu-mnist.westeurope.inference.ml.azure.com/score"
    assert client.online_endpoints.calls == [
        ("create", "heedu-mnist", {}, False),
        ("create", "heedu-mnist", {"heedu": 100}, False),
        ("get", "heedu-mnist", False),
    ]
    assert client.online_deployments.calls == [("create", "heedu", {}, False)]
    assert d2.invoke(client, "heedu-mnist", {"data": [1]}) == '{"ok": true}'
    assert client.online_endpoints.calls[-1] == ("invoke", "heedu-mnist", b'{"data": [1]}', None, False)
    assert not os.path.exists(client.online_endpoints.request_file)  # the temporary request file is gone
    d2.delete(client, "heedu-mnist")
    assert client.online_endpoints.calls[-1] == ("delete", "heedu-mnist", False)


def test_v2_blue_green_routes_the_share_asked_for() -> None:
    client = _client()
    d2.deploy(client, _fake_spec(), traffic_percent=10)
    assert client.online_endpoints.calls[1] == ("create", "heedu-mnist", {"heedu": 10}, False)


def test_v2_local_run_against_a_stand_in_client() -> None:
    """``local=True``: the SDK returns results, not pollers; no traffic rules; every call says local."""
    client = _client()
    endpoint = d2.deploy(client, _fake_spec(), local=True)
    assert endpoint.scoring_uri == "https://localhost:32768/score"
    assert client.online_endpoints.calls == [("create", "heedu-mnist", {}, True), ("get", "heedu-mnist", True)]
    assert client.online_deployments.calls == [("create", "heedu", {}, True)]
    assert d2.invoke(client, "heedu-mnist", '{"data": [2]}', deployment_name="heedu", local=True) == '{"ok": true}'
    assert client.online_endpoints.calls[-1] == ("invoke", "heedu-mnist", b'{"data": [2]}', "heedu", True)
    d2.delete(client, "heedu-mnist", local=True)
    assert client.online_endpoints.calls[-1] == ("delete", "heedu-mnist", True)


def test_v2_invoke_sends_the_body_as_given() -> None:
    client = _client()
    raw = b'{"data": [3], "key_id": "sha256-ab"}'
    d2.invoke(client, "heedu-mnist", raw)
    assert client.online_endpoints.calls[-1][2] == raw
    d2.invoke(client, "heedu-mnist", raw.decode())
    assert client.online_endpoints.calls[-1][2] == raw
    assert not os.path.exists(client.online_endpoints.request_file)
    with pytest.raises(common.DeploymentArgumentError, match="JSON as str, bytes or a dict"):
        d2.invoke(client, "heedu-mnist", 42)
    with pytest.raises(common.DeploymentArgumentError, match="endpoint name"):
        d2.invoke(client, "heedu mnist", raw)


@pytest.mark.parametrize("local", [False, True])
def test_v2_deploy_failure_names_the_step_and_shows_the_log(local: bool) -> None:
    client = _client(fail_on="heedu")
    with pytest.raises(common.DeploymentError, match="while creating deployment 'heedu': quota exceeded") as info:
        d2.deploy(client, _fake_spec(), local=local)
    assert "score.py init failed" in str(info.value)
    assert isinstance(info.value.azure_error, RuntimeError)
    assert client.online_deployments.calls[-1] == ("logs", "heedu", "heedu-mnist", 30, local)


def test_v2_deploy_failure_without_a_log_still_names_the_step() -> None:
    client = _client(fail_on="heedu", logs=None)
    with pytest.raises(common.DeploymentError, match="while creating deployment 'heedu'") as info:
        d2.deploy(client, _fake_spec())
    assert "container log" not in str(info.value)


def test_v2_deploy_checks_its_arguments_before_calling_azure() -> None:
    client = _client()
    with pytest.raises(common.DeploymentArgumentError, match="traffic_percent"):
        d2.deploy(client, _fake_spec(), traffic_percent=101)
    with pytest.raises(common.DeploymentArgumentError, match="OnlineDeploymentSpec"):
        d2.deploy(client, object())
    with pytest.raises(common.DeploymentArgumentError, match="endpoint name"):
        d2.delete(client, "-heedu")
    assert client.online_endpoints.calls == client.online_deployments.calls == []


def test_v2_delete_failure_is_a_deployment_error() -> None:
    client = SimpleNamespace(online_endpoints=FakeOperations(fail_on="heedu-mnist"))
    with pytest.raises(common.DeploymentError, match="deleting endpoint 'heedu-mnist' failed: endpoint is locked"):
        d2.delete(client, "heedu-mnist")


def test_v2_built_spec_through_the_stand_in_client(ml: ModuleType, source_dir: Path, model_file: Path) -> None:
    """The SDK's real endpoint and deployment objects go through deploy(): traffic lands on the real endpoint."""
    spec = d2.build("heedu-mnist", model_path=model_file, code=source_dir)
    client = _client()
    d2.deploy(client, spec, traffic_percent=100)
    assert spec.endpoint.traffic == {"heedu": 100}
    assert [call[:3] for call in client.online_endpoints.calls[:2]] == [
        ("create", "heedu-mnist", {}),
        ("create", "heedu-mnist", {"heedu": 100}),
    ]


# ------------------------------------------------------------------- the real client, offline


def test_the_stand_in_client_takes_the_sdks_own_arguments(ml: ModuleType) -> None:
    """Every call deploy_v2 makes binds to the real MLClient's operations, so the stand-in tells no lies."""
    client = ml.MLClient(UnusableCredential(), subscription_id="sub", resource_group_name="rg", workspace_name="ws")
    endpoint, deployment = object(), object()
    calls = [
        (client.online_endpoints.begin_create_or_update, (endpoint,), {"local": True}),
        (client.online_deployments.begin_create_or_update, (deployment,), {"local": True}),
        (client.online_endpoints.get, (), {"name": "heedu-mnist", "local": True}),
        (client.online_deployments.get_logs, (), {"name": "heedu", "endpoint_name": "e", "lines": 30, "local": True}),
        (client.online_endpoints.invoke, (), {"endpoint_name": "e", "request_file": "r.json", "deployment_name": None}),
        (client.online_endpoints.begin_delete, (), {"name": "heedu-mnist", "local": True}),
        (client.online_endpoints.get_keys, ("heedu-mnist",), {}),  # what chapter 9's reader calls next
    ]
    for method, args, kwargs in calls:
        inspect.signature(method).bind(*args, **kwargs)
        stand_in = getattr(FakeOperations(), method.__name__)
        inspect.signature(stand_in).bind(*args, **kwargs)


def test_v2_local_run_with_the_real_client_and_no_docker(
    ml: ModuleType, source_dir: Path, model_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``deploy(..., local=True)`` with the real MLClient goes to the SDK's local-Docker helper, not to Azure.

    Without Docker (its Python package blocked here, whatever the machine has), the SDK refuses at the
    first step; heedu reports which step and why, and no credential was ever asked for a token.
    """
    monkeypatch.setitem(sys.modules, "docker", None)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # the SDK keeps local endpoints under ~/.azureml
    client = d2.get_ml_client(_write_config(tmp_path), credential=UnusableCredential())
    spec = d2.build("heedu-mnist", model_path=model_file, code=source_dir)
    with pytest.raises(common.DeploymentError, match=r"while creating the endpoint: .*docker") as info:
        d2.deploy(client, spec, local=True)
    assert isinstance(info.value.azure_error, Exception)
    assert spec.endpoint.traffic in (None, {})  # no traffic rule was set for a local run


# ------------------------------------------------------------------------------- the course's code


CHAPTER_9 = ROOT / "docs" / "course" / "09-deploying-on-azure.md"
TEXT_BLOCK = re.compile(r"^```text[ \t]*\n(.*?)^```[ \t]*$", re.DOTALL | re.MULTILINE)


@pytest.mark.skipif(not CHAPTER_9.is_file(), reason="docs/course/ is not in this tree")
def test_the_courses_v2_deployment_runs_as_written(
    ml: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Chapter 9 shows the SDK v2 deployment first, in a ```text block (the course's tests run without
    azure-ai-ml). Here it runs as written: the real builders, a stand-in for the cloud."""
    text = CHAPTER_9.read_text(encoding="utf-8")
    blocks = [block for block in TEXT_BLOCK.findall(text) if "deploy_v2" in block]
    assert len(blocks) == 1, "chapter 9 should show exactly one SDK v2 deployment block"
    first_v1 = text.find("azure_adapter.deploy import")
    assert first_v1 == -1 or text.index(blocks[0]) < first_v1, "chapter 9 must show SDK v2 before SDK v1"
    (tmp_path / "sklearn_mnist_model.pkl").write_bytes(b"pickle")
    (tmp_path / "azure_adapter").symlink_to(ADAPTER_DIR, target_is_directory=True)  # code="azure_adapter"
    monkeypatch.chdir(tmp_path)
    client, asked = _client(), []
    monkeypatch.setattr(d2, "get_ml_client", lambda *args, **kwargs: asked.append((args, kwargs)) or client)
    namespace: dict[str, object] = {"__name__": "course_09_v2"}
    lines_before = text.count("\n", 0, text.index(blocks[0]))
    exec(compile("\n" * lines_before + blocks[0], str(CHAPTER_9), "exec"), namespace)
    assert asked == [((), {})]
    spec = namespace["spec"]
    assert isinstance(spec.deployment, ml.entities.ManagedOnlineDeployment)
    assert Path(spec.deployment.code_configuration.code) == Path("azure_adapter")
    assert spec.deployment.environment_variables == {"HEEDU_BACKEND": "heedu"}
    assert spec.endpoint.traffic == {spec.deployment.name: 100}
    assert namespace["api_key"] == "primary-key"
    assert capsys.readouterr().out.strip() == "https://heedu-mnist.westeurope.inference.ml.azure.com/score"
    assert client.online_endpoints.calls[-1] == ("keys", "heedu-mnist")
