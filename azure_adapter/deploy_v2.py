r"""Deploy heedu's encrypted inference service as an Azure ML managed online endpoint (SDK v2, ``azure-ai-ml``).

This is the supported successor of :mod:`azure_adapter.deploy` (SDK v1, past its end of support
since 30 June 2026). The tutorial's pieces map to SDK v2 objects as follows:

=============================================  ======================================================
tutorial (v1)                                  here (v2)
=============================================  ======================================================
``Environment`` + ``CondaDependencies``        :func:`make_environment`: ``Environment(image=..., conda_file=...)``
``InferenceConfig(entry_script="score.py")``   :func:`make_code_configuration`: ``CodeConfiguration``
``Model.register`` / ``Model(ws, name)``       :func:`make_model`: ``Model(path=..., type="custom_model")``
``AciWebservice.deploy_configuration``         :func:`make_endpoint` + :func:`make_deployment`
``Model.deploy`` + ``wait_for_deployment``     :func:`deploy`
``service.run(input_data)``                    :func:`invoke`
``service.delete()``                           :func:`delete`
=============================================  ======================================================

An *endpoint* is the stable HTTPS address with its authentication; a *deployment* is one set of
VMs running ``score.py`` behind it (blue/green upgrades put two behind one endpoint and split the
traffic). :func:`build` makes a consistent pair. Everything except :func:`get_ml_client`,
:func:`deploy`, :func:`invoke` and :func:`delete` works offline and validates its arguments with
:class:`~azure_adapter.deploy_common.DeploymentArgumentError`::

    from azure_adapter import deploy_v2 as d2

    spec = d2.build("heedu-mnist", model_path="sklearn_mnist_model.pkl", code="azure_adapter")
    ml_client = d2.get_ml_client()                      # config.json + DefaultAzureCredential
    endpoint = d2.deploy(ml_client, spec)               # endpoint, deployment, 100 % traffic
    print(endpoint.scoring_uri)
    answer = d2.invoke(ml_client, "heedu-mnist", request_json)
    d2.delete(ml_client, "heedu-mnist")                 # the VMs cost money while they exist

``deploy(..., local=True)`` runs the same endpoint in local Docker first, without Azure costs.

Requires the ``azure-v2`` extra (``pip install "heedu[azure-v2]"``); ``azure.ai.ml`` is imported
only when a builder runs, and its absence is reported with that command. Keep it in an environment
of its own rather than next to ``azureml-inference-server-http`` 1.5: that pins OpenTelemetry
1.33 exactly, while ``azure-ai-ml``'s telemetry dependency wants 1.45, so pip can only install
both by falling back to older telemetry packages.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

# The error classes are named here because every caller catches them; the checks and defaults shared
# with SDK v1 (deploy.py) are reached as ``common.*`` so that it is plain which rules the two share.
from azure_adapter import deploy_common as common
from azure_adapter.deploy_common import (
    AzureConfigurationError,
    AzureSDKNotInstalledError,
    DeploymentArgumentError,
    DeploymentError,
)

__all__ = [
    "DEFAULT_IMAGE",
    "DEFAULT_INSTANCE_TYPE",
    "OnlineDeploymentSpec",
    "build",
    "conda_dict",
    "conda_yaml",
    "delete",
    "deploy",
    "get_ml_client",
    "invoke",
    "make_code_configuration",
    "make_deployment",
    "make_endpoint",
    "make_environment",
    "make_model",
]

DEFAULT_IMAGE = "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest"
"""Azure ML's Ubuntu 22.04 base image; conda installs :func:`conda_dict` on top of it."""

DEFAULT_INSTANCE_TYPE = "Standard_DS3_v2"
"""4 cores, 14 GB: Azure's usual choice for CPU managed online endpoints."""

AUTH_MODES = ("key", "aml_token", "aad_token")
MAX_REQUEST_TIMEOUT_MS = 180_000  # the managed online endpoint limit

_ENDPOINT_NAME = re.compile(r"[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?")
_INSTANCE_TYPE = re.compile(r"Standard_[A-Za-z0-9_]+")


def _import_ml() -> SimpleNamespace:
    """The parts of ``azure-ai-ml`` used here, imported on first use; or say how to install it."""
    try:
        from azure.ai.ml import MLClient
        from azure.ai.ml.constants import AssetTypes
        from azure.ai.ml.entities import (
            CodeConfiguration,
            Environment,
            ManagedOnlineDeployment,
            ManagedOnlineEndpoint,
            Model,
            OnlineRequestSettings,
        )
    except ImportError as exc:
        raise AzureSDKNotInstalledError(
            f"this needs the Azure ML SDK v2 (azure-ai-ml), which is not importable ({exc}). "
            "Install it with:  pip install 'heedu[azure-v2]'  (best in its own virtual environment: its "
            "OpenTelemetry requirements clash with azureml-inference-server-http's exact pins)"
        ) from None
    return SimpleNamespace(
        MLClient=MLClient,
        CUSTOM_MODEL=AssetTypes.CUSTOM_MODEL,
        CodeConfiguration=CodeConfiguration,
        Environment=Environment,
        ManagedOnlineDeployment=ManagedOnlineDeployment,
        ManagedOnlineEndpoint=ManagedOnlineEndpoint,
        Model=Model,
        OnlineRequestSettings=OnlineRequestSettings,
    )


def _endpoint_name(kind: str, name: object) -> str:
    return common.check_name(
        kind, name, 3, 32, _ENDPOINT_NAME,
        "use 3 to 32 letters, digits or dashes, starting with a letter "
        "and ending with a letter or digit (endpoint names must also be unique in the Azure region)",
    )  # fmt: skip


# ------------------------------------------------------------------------------------- environment


def conda_dict(
    heedu_requirement: str = common.DEFAULT_HEEDU_REQUIREMENT,
    backend: str = "heedu",
    *,
    python_version: str = common.DEFAULT_PYTHON_VERSION,
    extra_pip_packages: Iterable[str] = (),
) -> dict[str, Any]:
    """The conda environment of the scoring container, as a dict: Python and pip from conda-forge,
    then :func:`azure_adapter.deploy_common.pip_requirements` (heedu, NumPy, scikit-learn,
    azure-storage-blob, azureml-inference-server-http; ``encrypted-inference==0.9`` for ``"seal"``)."""
    packages = common.pip_requirements(heedu_requirement, backend, extra_pip_packages)
    return {
        "name": "heedu-encrypted-inference",
        "channels": ["conda-forge"],
        "dependencies": [f"python={common.check_python_version(python_version)}", "pip", {"pip": packages}],
    }


def conda_yaml(
    heedu_requirement: str = common.DEFAULT_HEEDU_REQUIREMENT,
    backend: str = "heedu",
    *,
    python_version: str = common.DEFAULT_PYTHON_VERSION,
    extra_pip_packages: Iterable[str] = (),
) -> str:
    """The same environment as :func:`conda_dict`, as the text of a ``conda.yaml`` file.

    Save it next to ``score.py`` to deploy with the Azure CLI (``az ml online-deployment create``)
    or ``Environment(image=DEFAULT_IMAGE, conda_file="conda.yaml")``. Every scalar is written as a
    JSON string, which YAML reads verbatim, so requirement markers and URLs need no escaping.
    """
    spec = conda_dict(heedu_requirement, backend, python_version=python_version, extra_pip_packages=extra_pip_packages)
    lines = [
        "# Conda environment of heedu's encrypted inference service (written by azure_adapter.deploy_v2).",
        f"name: {json.dumps(spec['name'])}",
        "channels:",
        *(f"  - {json.dumps(channel)}" for channel in spec["channels"]),
        "dependencies:",
    ]
    for dependency in spec["dependencies"]:
        if isinstance(dependency, dict):
            lines.append("  - pip:")
            lines.extend(f"      - {json.dumps(package)}" for package in dependency["pip"])
        else:
            lines.append(f"  - {json.dumps(dependency)}")
    return "\n".join(lines) + "\n"


def make_environment(
    name: str = "heedu-encrypted-inference",
    heedu_requirement: str = common.DEFAULT_HEEDU_REQUIREMENT,
    backend: str = "heedu",
    *,
    image: str = DEFAULT_IMAGE,
    python_version: str = common.DEFAULT_PYTHON_VERSION,
    extra_pip_packages: Iterable[str] = (),
    version: str | None = None,
    description: str = "heedu encrypted inference (CKKS) with Azure ML's inference server",
) -> Any:
    """The container's software: a base ``image`` plus the conda file of :func:`conda_dict`.

    Azure builds the image on first use and caches it by content, so the same packages deploy fast
    the next time. Unlike v1, environment variables (``HEEDU_BACKEND``) belong to the deployment:
    :func:`make_deployment` sets them.
    """
    ml = _import_ml()
    name = common.check_asset_name("environment", name)
    if name.lower().startswith(("microsoft", "azureml")):
        raise DeploymentArgumentError(f"environment name {name!r} is reserved for Azure ML's curated environments")
    if not isinstance(image, str) or not image or any(c.isspace() for c in image):
        raise DeploymentArgumentError(f"image must be a container image reference, got {image!r}")
    if version is not None and (
        not isinstance(version, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", version)
    ):
        raise DeploymentArgumentError(f"environment version must be a string like '1', got {version!r}")
    conda = conda_dict(heedu_requirement, backend, python_version=python_version, extra_pip_packages=extra_pip_packages)
    return ml.Environment(name=name, version=version, image=image, conda_file=conda, description=description)


# ------------------------------------------------------------------------------------ model, code


def make_model(
    path: str | os.PathLike[str],
    name: str = "sklearn-mnist",
    *,
    version: str | None = None,
    description: str = "scikit-learn MNIST classifier served encrypted by heedu",
) -> Any:
    """The model to deploy: a local file or folder, uploaded and registered when the deployment is created.

    Pass ``"azureml:<name>:<version>"`` as the deployment's ``model`` instead to reuse a model already
    registered. In the container the files appear under ``AZUREML_MODEL_DIR``, where ``score.py``
    looks for the ``.pkl``.
    """
    ml = _import_ml()
    if not isinstance(path, (str, os.PathLike)) or not Path(path).exists():
        raise DeploymentArgumentError(f"model path {path!r} does not exist")
    return ml.Model(
        path=str(path),
        name=common.check_asset_name("model", name),
        version=version,
        type=ml.CUSTOM_MODEL,
        description=description,
    )


def make_code_configuration(code: str | os.PathLike[str], scoring_script: str = "score.py") -> Any:
    """The scoring code, ``CodeConfiguration(code=..., scoring_script="score.py")``: the v2 ``InferenceConfig``.

    ``code`` is a directory uploaded as is (keep secrets and data out of it) that holds
    ``scoring_script``, the file with ``init()`` and ``run(raw_data)``: pass heedu's ``azure_adapter``.
    """
    ml = _import_ml()
    if not isinstance(code, (str, os.PathLike)) or not Path(code).is_dir():
        raise DeploymentArgumentError(f"code must be the directory holding the scoring script, got {code!r}")
    if not isinstance(scoring_script, str) or not scoring_script.endswith(".py"):
        raise DeploymentArgumentError(f"scoring_script must name a .py file, got {scoring_script!r}")
    if Path(scoring_script).is_absolute() or ".." in Path(scoring_script).parts:
        raise DeploymentArgumentError(f"scoring_script {scoring_script!r} must be a path inside code")
    if not (Path(code) / scoring_script).is_file():
        raise DeploymentArgumentError(f"scoring script {scoring_script!r} not found in {str(code)!r}")
    return ml.CodeConfiguration(code=str(code), scoring_script=scoring_script)


# ------------------------------------------------------------------------------ endpoint, deployment


def make_endpoint(
    name: str,
    *,
    auth_mode: str = "key",
    description: str = "heedu encrypted MNIST inference",
    tags: Mapping[str, str] | None = None,
) -> Any:
    """The endpoint: a stable scoring URI and its authentication (``key`` by default, or Entra ID tokens)."""
    ml = _import_ml()
    if auth_mode not in AUTH_MODES:
        raise DeploymentArgumentError(f"auth_mode must be one of {AUTH_MODES}, got {auth_mode!r}")
    return ml.ManagedOnlineEndpoint(
        name=_endpoint_name("endpoint", name),
        auth_mode=auth_mode,
        description=description,
        tags=common.check_tags(tags, {"data": "MNIST", "method": "sklearn", "encryption": "heedu-ckks"}),
    )


def make_deployment(
    endpoint_name: str,
    model: Any,
    environment: Any,
    code_configuration: Any,
    *,
    name: str = "heedu",
    backend: str = "heedu",
    instance_type: str = DEFAULT_INSTANCE_TYPE,
    instance_count: int = 1,
    environment_variables: Mapping[str, str] | None = None,
    request_timeout_ms: int = 60_000,
    max_concurrent_requests_per_instance: int = 1,
) -> Any:
    """One deployment behind the endpoint: the VMs (``instance_type`` x ``instance_count``) running the code.

    ``HEEDU_BACKEND`` is set here from ``backend``; for ``"seal"`` the environment must install
    ``encrypted-inference``, which is checked when the environment's conda file is at hand. One
    request per instance at a time, because an encrypted prediction keeps a core busy; Azure
    recommends 3 or more instances for production. Requests may take up to ``request_timeout_ms``
    (at most 180 000 ms).
    """
    ml = _import_ml()
    backend = common.check_backend(backend)
    if not isinstance(instance_type, str) or not _INSTANCE_TYPE.fullmatch(instance_type):
        raise DeploymentArgumentError(
            f"instance_type must be an Azure VM size like 'Standard_DS3_v2', got {instance_type!r}"
        )
    if isinstance(environment, ml.Environment) and isinstance(environment.conda_file, dict):
        pip = [
            p for d in environment.conda_file.get("dependencies", []) if isinstance(d, dict) for p in d.get("pip", [])
        ]
        if backend == "seal" and common.SEAL_PACKAGE not in pip:
            raise DeploymentArgumentError(
                f"backend 'seal' needs {common.SEAL_PACKAGE} in the environment: "
                "build the environment with make_environment(backend='seal')"
            )
    if not isinstance(model, (str, ml.Model)):
        raise DeploymentArgumentError(f"model must be a Model or an 'azureml:<name>:<version>' string, got {model!r}")
    if not isinstance(environment, (str, ml.Environment)):
        raise DeploymentArgumentError(f"environment must be an Environment or a reference string, got {environment!r}")
    if not isinstance(code_configuration, ml.CodeConfiguration):
        raise DeploymentArgumentError("code_configuration must come from make_code_configuration")
    return ml.ManagedOnlineDeployment(
        name=_endpoint_name("deployment", name),
        endpoint_name=_endpoint_name("endpoint", endpoint_name),
        model=model,
        environment=environment,
        code_configuration=code_configuration,
        instance_type=instance_type,
        instance_count=common.check_count("instance_count", instance_count, 1),
        environment_variables={"HEEDU_BACKEND": backend, **common.check_environment_variables(environment_variables)},
        request_settings=ml.OnlineRequestSettings(
            request_timeout_ms=common.check_count("request_timeout_ms", request_timeout_ms, 1, MAX_REQUEST_TIMEOUT_MS),
            max_concurrent_requests_per_instance=common.check_count(
                "max_concurrent_requests_per_instance", max_concurrent_requests_per_instance, 1
            ),
        ),
    )


@dataclass(frozen=True)
class OnlineDeploymentSpec:
    """An endpoint and the deployment that serves it, built consistently by :func:`build`."""

    endpoint: Any
    deployment: Any


def build(
    endpoint_name: str,
    *,
    model_path: str | os.PathLike[str],
    code: str | os.PathLike[str],
    scoring_script: str = "score.py",
    backend: str = "heedu",
    heedu_requirement: str = common.DEFAULT_HEEDU_REQUIREMENT,
    model_name: str = "sklearn-mnist",
    deployment_name: str = "heedu",
    instance_type: str = DEFAULT_INSTANCE_TYPE,
    instance_count: int = 1,
    auth_mode: str = "key",
    environment_variables: Mapping[str, str] | None = None,
) -> OnlineDeploymentSpec:
    """Endpoint, environment, model, code and deployment in one call, offline; hand the result to :func:`deploy`."""
    environment = make_environment(heedu_requirement=heedu_requirement, backend=backend)
    deployment = make_deployment(
        endpoint_name,
        make_model(model_path, model_name),
        environment,
        make_code_configuration(code, scoring_script),
        name=deployment_name,
        backend=backend,
        instance_type=instance_type,
        instance_count=instance_count,
        environment_variables=environment_variables,
    )
    return OnlineDeploymentSpec(make_endpoint(endpoint_name, auth_mode=auth_mode), deployment)


# ------------------------------------------------------------------------------------------- cloud


def get_ml_client(config_path: str | os.PathLike[str] | None = None, credential: Any = None) -> Any:
    """An ``MLClient`` for the workspace in ``config.json`` (the same file v1 uses), offline until first used.

    A missing or broken config file raises :class:`~azure_adapter.deploy_common.AzureConfigurationError`
    explaining how to create it. ``credential`` defaults to ``DefaultAzureCredential()`` (environment,
    managed identity, Azure CLI login, ...).
    """
    config = common.read_workspace_config(config_path)
    ml = _import_ml()
    if credential is None:
        try:
            from azure.identity import DefaultAzureCredential
        except ImportError:
            raise AzureSDKNotInstalledError(
                "DefaultAzureCredential needs azure-identity: pip install 'heedu[azure-v2]', or pass a credential"
            ) from None
        credential = DefaultAzureCredential()
    try:
        return ml.MLClient(
            credential,
            subscription_id=config["subscription_id"],
            resource_group_name=config["resource_group"],
            workspace_name=config["workspace_name"],
        )
    except Exception as exc:  # the SDK validates the ids; report them with the file they came from
        raise common.wrap_error(
            AzureConfigurationError, f"cannot use the workspace in {config['path']}: {common.first_line(exc)}", exc
        ) from None


def _wait(operation: Any) -> Any:
    """Wait for one ``begin_*`` call of the SDK and return its result.

    In Azure the ``begin_*`` methods return a poller (``LROPoller``) to wait on; with ``local=True``
    (local Docker) they do the work at once and return the result itself: the endpoint or
    deployment from ``begin_create_or_update``, ``None`` from ``begin_delete``.
    """
    result = getattr(operation, "result", None)
    return result() if callable(result) else operation


def deploy(ml_client: Any, spec: OnlineDeploymentSpec, *, traffic_percent: int = 100, local: bool = False) -> Any:
    """Create (or update) the endpoint, then the deployment, then route ``traffic_percent`` to it; wait for each.

    Returns the endpoint as Azure reports it: ``endpoint.scoring_uri`` is where clients POST.
    Building the image the first time takes several minutes. ``local=True`` runs the deployment in
    local Docker instead (needs Docker, costs nothing: debug ``score.py`` and the environment there first). On failure a
    :class:`~azure_adapter.deploy_common.DeploymentError` carries the container log tail when there is one.
    """
    if not isinstance(spec, OnlineDeploymentSpec):
        raise DeploymentArgumentError("spec must be an OnlineDeploymentSpec from build()")
    traffic_percent = common.check_count("traffic_percent", traffic_percent, 0, 100)
    endpoint, deployment = spec.endpoint, spec.deployment
    step = "creating the endpoint"
    try:
        _wait(ml_client.online_endpoints.begin_create_or_update(endpoint, local=local))
        step = f"creating deployment {deployment.name!r}"
        _wait(ml_client.online_deployments.begin_create_or_update(deployment, local=local))
        if not local:  # a local endpoint has one deployment and no traffic rules
            step = "routing traffic"
            endpoint.traffic = {deployment.name: traffic_percent}
            _wait(ml_client.online_endpoints.begin_create_or_update(endpoint))
        return ml_client.online_endpoints.get(name=endpoint.name, local=local)
    except Exception as exc:  # Azure's errors come in many types; report which step failed and the logs
        logs = ""
        try:
            tail = ml_client.online_deployments.get_logs(
                name=deployment.name, endpoint_name=endpoint.name, lines=30, local=local
            )
            logs = f"\nLast lines of the container log:\n{tail}"
        except Exception:  # best effort: the container may never have started
            pass
        reason = common.first_line(exc)
        raise common.wrap_error(
            DeploymentError, f"deploying endpoint {endpoint.name!r} failed while {step}: {reason}{logs}", exc
        ) from exc


def invoke(
    ml_client: Any,
    endpoint_name: str,
    request: str | bytes | Mapping[str, Any],
    *,
    deployment_name: str | None = None,
    local: bool = False,
) -> str:
    """POST one request to the endpoint (the tutorial's ``service.run(input_data)``); returns the response text.

    ``request`` is the JSON body (a string, bytes or a dict). The SDK reads it from a file, so it is
    written to a private temporary file that is removed afterwards.
    """
    endpoint_name = _endpoint_name("endpoint", endpoint_name)
    if isinstance(request, Mapping):
        body = json.dumps(request).encode()
    elif isinstance(request, str):
        body = request.encode()
    elif isinstance(request, bytes):
        body = request
    else:
        raise DeploymentArgumentError(f"request must be JSON as str, bytes or a dict, got {type(request).__name__}")
    handle, path = tempfile.mkstemp(suffix=".json")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(body)
        return ml_client.online_endpoints.invoke(
            endpoint_name=endpoint_name, request_file=path, deployment_name=deployment_name, local=local
        )
    finally:
        os.unlink(path)


def delete(ml_client: Any, endpoint_name: str, *, local: bool = False) -> None:
    """Delete the endpoint and all its deployments, and wait: the VMs are billed until this finishes."""
    endpoint_name = _endpoint_name("endpoint", endpoint_name)
    try:
        _wait(ml_client.online_endpoints.begin_delete(name=endpoint_name, local=local))
    except Exception as exc:
        raise common.wrap_error(
            DeploymentError, f"deleting endpoint {endpoint_name!r} failed: {common.first_line(exc)}", exc
        ) from exc
