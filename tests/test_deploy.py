"""Azure ML SDK v1 deployment (``azureml-core``, the tutorial's exact flow), built and checked offline.

Nothing here reaches Azure: the builders work without a workspace, and the cloud steps
(register, deploy, wait, delete) run against stand-ins that record how they were called. The SDK v2
deployment (``azure-ai-ml``, managed online endpoints) is tested in tests/test_deploy_v2.py, which
needs no azureml-core and runs again in an environment of its own (.venv-v2) that has azure-ai-ml.
"""

from __future__ import annotations

import json
import logging
import math
import sys
from pathlib import Path

import pytest

pytest.importorskip(
    "azureml.core",
    reason="azureml-core is not installed (it comes with heedu's 'azure' extra): the SDK v1 deployment "
    "builders cannot be checked without it",
)

from azureml.core import Environment, Model, Workspace
from azureml.core.webservice.aci import AciServiceDeploymentConfiguration
from azureml.core.webservice.aks import AksServiceDeploymentConfiguration
from azureml.exceptions import AuthenticationException, WebserviceException

from azure_adapter import deploy as d
from heedu import HeeduError, __version__

ADAPTER_DIR = Path(d.__file__).resolve().parent

# azureml-core's vendored ruamel.yaml announces its own API changes on every serialization; none of it
# concerns heedu's code.
pytestmark = [pytest.mark.filterwarnings("ignore::PendingDeprecationWarning:azureml")]


@pytest.fixture
def source_dir(tmp_path: Path) -> Path:
    """A directory holding a minimal entry script, as make_inference_config requires."""
    (tmp_path / "score.py").write_text("def init():\n    pass\n\n\ndef run(raw_data):\n    return raw_data\n")
    return tmp_path


def pip_packages(env: Environment) -> list[str]:
    return list(env.python.conda_dependencies.pip_packages)


# ---------------------------------------------------------------------------------------- errors


def test_error_types_fit_heedu_and_python_hierarchies() -> None:
    assert issubclass(d.AzureConfigurationError, HeeduError)
    assert issubclass(d.DeploymentArgumentError, d.AzureConfigurationError)
    assert issubclass(d.DeploymentArgumentError, ValueError)
    assert issubclass(d.AzureSDKNotInstalledError, ImportError)
    assert issubclass(d.DeploymentError, HeeduError)


# ------------------------------------------------------------------------------------ environment


def test_environment_for_the_heedu_backend() -> None:
    env = d.make_environment()
    packages = pip_packages(env)
    assert env.name == "heedu-encrypted-inference"
    assert packages[0] == f"heedu=={__version__}" == d.DEFAULT_HEEDU_REQUIREMENT
    names = {p.split(">")[0].split("=")[0].split("<")[0] for p in packages}
    assert {"heedu", "numpy", "scikit-learn", "azure-storage-blob", "azureml-inference-server-http"} <= names
    assert not any(p.startswith("encrypted-inference") for p in packages)
    assert env.environment_variables == {"HEEDU_BACKEND": "heedu"}
    conda = env.python.conda_dependencies
    assert list(conda.conda_channels) == ["conda-forge"]
    assert "python=3.11" in list(conda.conda_packages) and "pip" in list(conda.conda_packages)
    assert list(conda.pip_options) == []  # no index URLs leak into the image build
    assert env.python.user_managed_dependencies is False


def test_environment_for_the_seal_backend() -> None:
    env = d.make_environment("heedu-seal", backend="seal")
    packages = pip_packages(env)
    assert "encrypted-inference==0.9" in packages and packages[0].startswith("heedu==")
    assert env.environment_variables == {"HEEDU_BACKEND": "seal"}
    assert env.name == "heedu-seal"


def test_environment_serializes_what_the_service_receives() -> None:
    env = d.make_environment(backend="seal", environment_variables={"HEEDU_KEY_STORE_CONTAINER": "keys"})
    payload = Environment._serialize_to_dict(env)
    assert payload["environmentVariables"] == {"HEEDU_BACKEND": "seal", "HEEDU_KEY_STORE_CONTAINER": "keys"}
    text = env.python.conda_dependencies.serialize_to_string()
    for needed in ("heedu==", "encrypted-inference==0.9", "azureml-inference-server-http", "python=3.11"):
        assert needed in text
    assert "anaconda" not in text.split("channels:")[1]


@pytest.mark.parametrize(
    "requirement",
    [
        "heedu==0.1.0",
        "heedu>=0.1,<0.2",
        "heedu @ https://example.invalid/wheels/heedu-0.1.0-py3-none-any.whl",
        "https://example.invalid/azureml/heedu-0.1.0-py3-none-any.whl?sv=2024&sig=abc",
        "Heedu",
    ],
)
def test_environment_accepts_heedu_requirements_and_wheels(requirement: str) -> None:
    assert pip_packages(d.make_environment(heedu_requirement=requirement))[0] == requirement


def test_environment_keeps_extra_packages_and_variables() -> None:
    env = d.make_environment(
        extra_pip_packages=["joblib>=1.3"],
        environment_variables={"HEEDU_MODEL_FILE": "model.pkl"},
        python_version="3.12",
    )
    assert pip_packages(env)[-1] == "joblib>=1.3"
    assert env.environment_variables == {"HEEDU_BACKEND": "heedu", "HEEDU_MODEL_FILE": "model.pkl"}
    assert "python=3.12" in list(env.python.conda_dependencies.conda_packages)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"backend": "tenseal"}, "backend must be one of"),
        ({"backend": None}, "backend must be one of"),
        ({"heedu_requirement": "numpy>=1.24"}, "does not name heedu"),
        ({"heedu_requirement": "heedu-extra==1"}, "does not name heedu"),
        ({"heedu_requirement": ""}, "non-empty"),
        ({"heedu_requirement": "heedu --extra-index-url http://x"}, "not pip options"),
        ({"heedu_requirement": "heedu\n--index-url http://x"}, "not pip options"),
        ({"heedu_requirement": "https://example.invalid/numpy-2.0-py3-none-any.whl"}, "not a heedu wheel"),
        ({"name": "AzureML-heedu"}, "reserved"),
        ({"name": "Microsoft-heedu"}, "reserved"),
        ({"name": "bad name"}, "environment name"),
        ({"python_version": "3.9"}, "3.10' or later"),
        ({"python_version": "python3"}, "3.10' or later"),
        ({"extra_pip_packages": "joblib"}, "a list of requirements"),
        ({"extra_pip_packages": ["--index-url=http://x"]}, "not pip options"),
        ({"environment_variables": {"HEEDU_BACKEND": "seal"}}, "backend argument"),
        ({"environment_variables": {"1BAD": "x"}}, "valid name"),
        ({"environment_variables": {"CONN": "DefaultEndpointsProtocol=https;AccountKey=abc=="}}, "storage secret"),
        ({"environment_variables": {"URL": "https://a.blob.core.windows.net/c/k?sv=1&sig=abc"}}, "storage secret"),
    ],
)
def test_environment_rejects_bad_arguments(kwargs: dict, expected: str) -> None:
    with pytest.raises(d.DeploymentArgumentError, match=expected):
        d.make_environment(**kwargs)


# ------------------------------------------------------------------------------- inference config


def test_inference_config_fields(source_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    env = d.make_environment(backend="seal")
    with caplog.at_level(logging.WARNING):
        config = d.make_inference_config(source_dir, environment=env)
    assert config.entry_script == "score.py"
    assert Path(config.source_directory) == source_dir.resolve()
    assert config.environment is env
    assert not [r for r in caplog.records if "azureml-defaults" in r.getMessage()]


def test_inference_config_defaults_to_the_heedu_environment(source_dir: Path) -> None:
    config = d.make_inference_config(source_dir)
    assert config.environment.environment_variables["HEEDU_BACKEND"] == "heedu"


@pytest.mark.skipif(not (ADAPTER_DIR / "score.py").is_file(), reason="azure_adapter/score.py is not in this tree")
def test_inference_config_for_heedus_own_scoring_script() -> None:
    config = d.make_inference_config(ADAPTER_DIR)
    assert config.entry_script == "score.py" and Path(config.source_directory) == ADAPTER_DIR


def test_inference_config_rejects_bad_arguments(source_dir: Path) -> None:
    (source_dir / "my-score.py").write_text("")
    (source_dir / "score.txt").write_text("")
    cases = [
        ({"source_directory": source_dir / "missing"}, "not a directory"),
        ({"source_directory": 42}, "must be a path"),
        ({"source_directory": source_dir, "entry_script": "other.py"}, "not found"),
        ({"source_directory": source_dir, "entry_script": "score.txt"}, r"\.py file"),
        ({"source_directory": source_dir, "entry_script": "my-score.py"}, "importable"),
        ({"source_directory": source_dir, "entry_script": "../score.py"}, "inside source_directory"),
        ({"source_directory": source_dir, "environment": "heedu-encrypted-inference"}, "azureml Environment"),
    ]
    for kwargs, expected in cases:
        with pytest.raises(d.DeploymentArgumentError, match=expected):
            d.make_inference_config(**kwargs)


# ------------------------------------------------------------------------------------------- ACI


def test_aci_config_defaults() -> None:
    config = d.make_aci_config()
    assert isinstance(config, AciServiceDeploymentConfiguration)
    assert (config.cpu_cores, config.memory_gb, config.auth_enabled) == (1, 2, True)
    assert config.tags == {"data": "MNIST", "method": "sklearn", "encryption": "heedu-ckks"}
    assert "heedu" in config.description
    assert config.enable_app_insights is False


def test_aci_config_custom_values() -> None:
    config = d.make_aci_config(
        cpu_cores=0.5, memory_gb=1.5, auth_enabled=False, tags={"team": "he"}, location="westeurope"
    )
    assert (config.cpu_cores, config.memory_gb, config.auth_enabled) == (0.5, 1.5, False)
    assert config.tags == {"team": "he"} and config.location == "westeurope"


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"cpu_cores": 0}, r"cpu_cores must be > 0 and <= 4"),
        ({"cpu_cores": -1}, r"cpu_cores must be > 0"),
        ({"cpu_cores": 8}, r"ACI's limit"),
        ({"cpu_cores": math.nan}, "finite number"),
        ({"cpu_cores": True}, "finite number"),
        ({"cpu_cores": "1"}, "finite number"),
        ({"memory_gb": 0}, r"memory_gb must be > 0 and <= 16 GB"),
        ({"memory_gb": 32}, r"memory_gb must be > 0 and <= 16 GB"),
        ({"memory_gb": math.inf}, "finite number"),
        ({"auth_enabled": "yes"}, "True or False"),
        ({"tags": {"n": 1}}, "mapping of str to str"),
    ],
)
def test_aci_config_rejects_bad_arguments(kwargs: dict, expected: str) -> None:
    with pytest.raises(d.DeploymentArgumentError, match=expected) as info:
        d.make_aci_config(**kwargs)
    assert isinstance(info.value, ValueError) and isinstance(info.value, HeeduError)


# ------------------------------------------------------------------------------------------- AKS


def test_aks_config_autoscale_defaults() -> None:
    config = d.make_aks_config()
    assert isinstance(config, AksServiceDeploymentConfiguration)
    assert config.autoscale_enabled is True
    assert (config.autoscale_min_replicas, config.autoscale_max_replicas) == (1, 4)
    assert config.autoscale_target_utilization == 70
    assert config.autoscale_refresh_seconds == 10
    assert config.num_replicas is None
    assert (config.cpu_cores, config.memory_gb, config.auth_enabled) == (1, 2, True)
    assert config.scoring_timeout_ms == 60_000 and config.replica_max_concurrent_requests == 1


def test_aks_config_custom_autoscale_and_fixed_replicas() -> None:
    config = d.make_aks_config(
        autoscale_min_replicas=2, autoscale_max_replicas=10, autoscale_target_utilization=50, cpu_cores=2, memory_gb=4
    )
    assert (config.autoscale_min_replicas, config.autoscale_max_replicas) == (2, 10)
    assert (config.autoscale_target_utilization, config.cpu_cores, config.memory_gb) == (50, 2, 4)
    fixed = d.make_aks_config(autoscale_enabled=False, num_replicas=3, compute_target_name="aks-he")
    assert (fixed.autoscale_enabled, fixed.num_replicas) == (False, 3)
    assert fixed.autoscale_min_replicas is None and fixed.compute_target_name == "aks-he"


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"autoscale_min_replicas": 0}, "autoscale_min_replicas must be >= 1"),
        ({"autoscale_min_replicas": 1.5}, "must be an integer"),
        ({"autoscale_max_replicas": 0}, "autoscale_max_replicas must be >= 1"),
        ({"autoscale_min_replicas": 5, "autoscale_max_replicas": 4}, r"max_replicas \(4\) must be >= .*\(5\)"),
        ({"autoscale_target_utilization": 0}, "between 1 and 100"),
        ({"autoscale_target_utilization": 101}, "between 1 and 100"),
        ({"autoscale_refresh_seconds": 0}, "autoscale_refresh_seconds"),
        ({"num_replicas": 2}, "leave it None when autoscaling"),
        ({"autoscale_enabled": False}, "set num_replicas"),
        ({"autoscale_enabled": False, "num_replicas": 0}, "num_replicas must be >= 1"),
        ({"autoscale_enabled": 1}, "True or False"),
        ({"cpu_cores": 0}, "cpu_cores must be > 0"),
        ({"memory_gb": -2}, "memory_gb must be > 0"),
        ({"scoring_timeout_ms": 0}, "scoring_timeout_ms"),
        ({"replica_max_concurrent_requests": 0}, "replica_max_concurrent_requests"),
    ],
)
def test_aks_config_rejects_bad_arguments(kwargs: dict, expected: str) -> None:
    with pytest.raises(d.DeploymentArgumentError, match=expected):
        d.make_aks_config(**kwargs)


# ------------------------------------------------------------------------------------- workspace


def _no_config_above(path: Path) -> bool:
    return d.find_workspace_config(path) is None


def test_load_workspace_without_config_explains_how_to_create_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not _no_config_above(tmp_path):
        pytest.skip("a parent of the temporary directory holds an Azure ML config.json")
    monkeypatch.chdir(tmp_path)
    for config_path in (None, tmp_path, str(tmp_path / "nested" / "config.json")):
        with pytest.raises(d.AzureConfigurationError) as info:
            d.load_workspace(config_path)
        message = str(info.value)
        assert "No Azure ML workspace configuration found" in message
        assert "config.json" in message and "https://ml.azure.com" in message
        for key in ("subscription_id", "resource_group", "workspace_name"):
            assert key in message
        # No azureml traceback: nothing chained, and the SDK was not even entered.
        assert info.value.__cause__ is None
        assert info.value.__context__ is None or info.value.__suppress_context__
        assert not [entry for entry in info.traceback if "azureml" in str(entry.path)]
        assert isinstance(info.value, HeeduError)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "not readable JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"subscription_id": "s", "resource_group": "r"}', "lacks workspace_name"),
        ('{"subscription_id": "", "resource_group": "r", "workspace_name": "w"}', "lacks subscription_id"),
        ('{"Scope": "/subscriptions/s/somethingElse"}', "not a workspace resource id"),
    ],
)
def test_broken_workspace_config_is_reported(tmp_path: Path, content: str, expected: str) -> None:
    (tmp_path / "config.json").write_text(content)
    with pytest.raises(d.AzureConfigurationError, match=expected) as info:
        d.load_workspace(tmp_path)
    assert str(tmp_path / "config.json") in str(info.value)


def test_workspace_config_search_follows_azureml_rules(tmp_path: Path) -> None:
    nested = tmp_path / "project" / "notebooks"
    nested.mkdir(parents=True)
    plain = {"subscription_id": "sub", "resource_group": "rg", "workspace_name": "plain"}
    (tmp_path / "config.json").write_text(json.dumps(plain))
    assert d.find_workspace_config(nested) == (tmp_path / "config.json").resolve()
    (tmp_path / ".azureml").mkdir()
    scope = "/subscriptions/sub2/resourceGroups/rg2/providers/Microsoft.MachineLearningServices/workspaces/ws2"
    (tmp_path / ".azureml" / "config.json").write_text(json.dumps({"Scope": scope}))
    config = d.read_workspace_config(nested)  # .azureml/ wins over a plain config.json, as in azureml-core
    assert (config["subscription_id"], config["resource_group"], config["workspace_name"]) == ("sub2", "rg2", "ws2")
    assert d.read_workspace_config(tmp_path / "config.json")["workspace_name"] == "plain"


def test_load_workspace_wraps_sdk_failures(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "config.json").write_text(
        json.dumps({"subscription_id": "sub", "resource_group": "rg", "workspace_name": "ws"})
    )
    calls = []

    def from_config(path=None, auth=None):
        calls.append((path, auth))
        raise AuthenticationException("We could not find a valid login\nlong SDK details")

    monkeypatch.setattr(Workspace, "from_config", staticmethod(from_config))
    with pytest.raises(d.AzureConfigurationError, match="could not find a valid login") as info:
        d.load_workspace(tmp_path, auth="token")
    assert calls == [(str((tmp_path / "config.json").resolve()), "token")]
    assert "az login" in str(info.value) and "'ws'" in str(info.value)
    assert "long SDK details" not in str(info.value)
    assert isinstance(info.value.azure_error, AuthenticationException)


def test_load_workspace_returns_the_sdks_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "config.json").write_text(
        json.dumps({"subscription_id": "sub", "resource_group": "rg", "workspace_name": "ws"})
    )
    workspace = object()
    monkeypatch.setattr(Workspace, "from_config", staticmethod(lambda path=None, auth=None: workspace))
    assert d.load_workspace(tmp_path / "config.json") is workspace


# ------------------------------------------------------------------------- register, deploy, delete


class FakeService:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.waited: list[tuple] = []
        self.deleted = False
        self.name = "heedu-mnist"
        self.scoring_uri = "http://heedu-mnist.westeurope.azurecontainer.io/score"

    def wait_for_deployment(self, show_output=False, timeout_sec=None):
        self.waited.append((show_output, timeout_sec))
        if self.fail:
            raise WebserviceException("Service deployment polling reached non-successful terminal state")

    def get_logs(self):
        return "booting\nImportError: no module named heedu"

    def delete(self):
        self.deleted = True


def test_register_model_calls_the_sdk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model_file = tmp_path / "sklearn_mnist_model.pkl"
    model_file.write_bytes(b"pickle")
    calls = []
    monkeypatch.setattr(Model, "register", staticmethod(lambda **kwargs: calls.append(kwargs) or "model"))
    assert d.register_model("ws", model_file, "sklearn_mnist") == "model"
    assert calls[0]["workspace"] == "ws" and calls[0]["model_path"] == str(model_file)
    assert calls[0]["model_name"] == "sklearn_mnist"
    with pytest.raises(d.DeploymentArgumentError, match="does not exist"):
        d.register_model("ws", tmp_path / "missing.pkl", "sklearn_mnist")
    with pytest.raises(d.DeploymentArgumentError, match="model name"):
        d.register_model("ws", model_file, "bad name!")


def test_deploy_waits_and_returns_the_service(source_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    service, calls = FakeService(), []
    monkeypatch.setattr(Model, "deploy", staticmethod(lambda **kwargs: calls.append(kwargs) or service))
    inference_config, aci = d.make_inference_config(source_dir), d.make_aci_config()
    result = d.deploy("ws", "heedu-mnist", "model", inference_config, aci)
    assert result is service and result.scoring_uri.endswith("/score")
    assert calls[0]["name"] == "heedu-mnist" and calls[0]["models"] == ["model"]
    assert calls[0]["inference_config"] is inference_config and calls[0]["deployment_config"] is aci
    assert service.waited == [(True, None)]
    d.delete(service)
    assert service.deleted


def test_deploy_failure_reports_the_container_log(source_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    service = FakeService(fail=True)
    monkeypatch.setattr(Model, "deploy", staticmethod(lambda **kwargs: service))
    with pytest.raises(d.DeploymentError, match="did not become healthy") as info:
        d.deploy("ws", "heedu-mnist", ["m1", "m2"], d.make_inference_config(source_dir), d.make_aci_config())
    assert "no module named heedu" in str(info.value)
    assert isinstance(info.value.azure_error, WebserviceException)


@pytest.mark.parametrize("name", ["ab", "Heedu-MNIST", "heedu_mnist", "heedu-", "9heedu", "x" * 33])
def test_deploy_rejects_bad_service_names_before_calling_azure(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Model, "deploy", staticmethod(lambda **kwargs: pytest.fail("Model.deploy was called")))
    with pytest.raises(d.DeploymentArgumentError, match="3 to 32 lowercase"):
        d.deploy("ws", name, "model", None, None)


def test_missing_sdk_v1_is_reported_with_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "azureml.core", None)  # makes `import azureml.core` fail
    with pytest.raises(d.AzureSDKNotInstalledError, match=r"pip install 'heedu\[azure\]'") as info:
        d.make_aci_config()
    assert isinstance(info.value, ImportError)
