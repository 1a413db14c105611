r"""Deploy heedu's encrypted inference service to Azure ML with the v1 SDK (``azureml-core``), as the tutorial does.

.. warning::

   **The Azure ML SDK v1 (``azureml-core``) is past its end of support.** Microsoft deprecated it on
   31 March 2025 and ended its support on 30 June 2026: it gets no fixes, and its ACI/AKS web services
   are legacy. This module keeps the tutorial's workflow working and testable; for new deployments use
   :mod:`azure_adapter.deploy_v2` (SDK v2, ``azure-ai-ml``, managed online endpoints).

The tutorial ("How to deploy an encrypted inferencing web service") deploys ``score.py`` step by
step. Each step has a function here, with heedu in place of ``encrypted-inference`` as the backend:

=====================================================  =================================================
tutorial                                               here
=====================================================  =================================================
``Environment`` + ``CondaDependencies.create(...)``    :func:`make_environment`
``InferenceConfig(entry_script="score.py", ...)``      :func:`make_inference_config`
``AciWebservice.deploy_configuration(...)``            :func:`make_aci_config` (or :func:`make_aks_config`)
``Workspace.from_config()``                            :func:`load_workspace`
``Model.register`` / ``Model(ws, name)``               :func:`register_model` / :func:`get_model`
``Model.deploy`` + ``wait_for_deployment``             :func:`deploy`
``service.delete()``                                   :func:`delete`
=====================================================  =================================================

The ``make_*`` functions only build and validate configuration objects: they work offline, need
no workspace and no credentials, and raise :class:`DeploymentArgumentError` (a ``ValueError``)
with a sentence saying what is wrong and what is allowed. Only :func:`load_workspace`,
:func:`register_model`, :func:`get_model`, :func:`deploy` and :func:`delete` talk to Azure.

A complete deployment::

    from azure_adapter import deploy as d

    ws = d.load_workspace()                                       # reads config.json
    model = d.register_model(ws, "sklearn_mnist_model.pkl", "sklearn_mnist")
    env = d.make_environment(backend="heedu")                     # or backend="seal"
    inference_config = d.make_inference_config("azure_adapter", environment=env)
    service = d.deploy(ws, "heedu-encrypted-mnist", model, inference_config, d.make_aci_config())
    print(service.scoring_uri)
    result = service.run(input_data=request_json)                 # as in the tutorial
    d.delete(service)                                             # stop paying for it

Installing heedu in the container
---------------------------------
The environment installs heedu with pip from ``heedu_requirement`` (default ``heedu==<this version>``).
If heedu is not on the package index your workspace uses, upload a wheel once and pass its URL::

    url = Environment.add_private_pip_wheel(ws, "dist/heedu-0.1.0-py3-none-any.whl", exist_ok=True)
    env = d.make_environment(heedu_requirement=url)

heedu's wheel also ships the ``azure_adapter`` package that ``score.py`` imports, so the source
directory uploaded with the entry script only has to hold ``score.py``.

Requires the ``azure`` extra (``pip install "heedu[azure]"``); this module imports
``azureml.core`` only when a function needs it, and says how to install it when it is missing.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from .deploy_common import (
    BACKENDS,
    DEFAULT_HEEDU_REQUIREMENT,
    DEFAULT_PYTHON_VERSION,
    SEAL_PACKAGE,
    AzureConfigurationError,
    AzureSDKNotInstalledError,
    DeploymentArgumentError,
    DeploymentError,
    check_asset_name,
    check_backend,
    check_count,
    check_environment_variables,
    check_flag,
    check_number,
    check_python_version,
    check_service_name,
    check_tags,
    find_workspace_config,
    first_line,
    pip_requirements,
    read_workspace_config,
    wrap_error,
)

__all__ = [
    "BACKENDS",
    "DEFAULT_HEEDU_REQUIREMENT",
    "SEAL_PACKAGE",
    "AzureConfigurationError",
    "AzureSDKNotInstalledError",
    "DeploymentArgumentError",
    "DeploymentError",
    "delete",
    "deploy",
    "find_workspace_config",
    "get_model",
    "load_workspace",
    "make_aci_config",
    "make_aks_config",
    "make_environment",
    "make_inference_config",
    "pip_requirements",
    "read_workspace_config",
    "register_model",
]

CONDA_CHANNELS = ("conda-forge",)
DEFAULT_DESCRIPTION = "Encrypted Predict MNIST with sklearn + heedu (CKKS)"

# Azure Container Instances: a container group gets at most 4 cores and 16 GB in most regions.
ACI_MAX_CPU_CORES = 4.0
ACI_MAX_MEMORY_GB = 16.0


@contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    """Silence one SDK logger's warnings for the duration (they do not apply to how it is used here)."""
    log = logging.getLogger(logger_name)
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


def _import_azureml() -> SimpleNamespace:
    """The parts of ``azureml-core`` used here, imported on first use; or say how to install it."""
    try:
        from azureml.core import Environment, Model, Workspace
        from azureml.core.conda_dependencies import CondaDependencies
        from azureml.core.model import InferenceConfig
        from azureml.core.webservice import AciWebservice, AksWebservice
        from azureml.exceptions import AzureMLException, WebserviceException
    except ImportError as exc:
        raise AzureSDKNotInstalledError(
            f"this needs the Azure ML SDK v1 (azureml-core), which is not importable ({exc}). "
            "Install it with:  pip install 'heedu[azure]'  (or use azure_adapter.deploy_v2 with "
            "pip install 'heedu[azure-v2]': SDK v1 is past its end of support)"
        ) from None
    return SimpleNamespace(
        Environment=Environment,
        Model=Model,
        Workspace=Workspace,
        CondaDependencies=CondaDependencies,
        InferenceConfig=InferenceConfig,
        AciWebservice=AciWebservice,
        AksWebservice=AksWebservice,
        AzureMLException=AzureMLException,
        WebserviceException=WebserviceException,
    )


# -------------------------------------------------------------------------------------- environment


def make_environment(
    name: str = "heedu-encrypted-inference",
    heedu_requirement: str = DEFAULT_HEEDU_REQUIREMENT,
    backend: str = "heedu",
    *,
    python_version: str = DEFAULT_PYTHON_VERSION,
    extra_pip_packages: Iterable[str] = (),
    environment_variables: Mapping[str, str] | None = None,
) -> Any:
    """Step 1 of the tutorial: the software environment of the scoring container.

    The tutorial creates ``Environment('tutorial-env')`` and gives it ``CondaDependencies`` listing the
    pip packages the scoring script imports. Here those are :func:`pip_requirements`: heedu, NumPy,
    scikit-learn, azure-storage-blob and ``azureml-inference-server-http`` (the HTTP server that calls
    ``init()`` and ``run()``; the tutorial got it through ``azureml-defaults``, which also drags in
    ``azureml-core`` and dataset libraries the service never uses), plus ``encrypted-inference==0.9``
    when ``backend="seal"``.

    The environment variable ``HEEDU_BACKEND`` tells ``score.py`` which server to build: ``"heedu"``
    (heedu's own, byte-compatible with ``encrypted-inference``) or ``"seal"`` (the original package).
    ``environment_variables`` adds others (e.g. ``HEEDU_KEY_STORE_CONTAINER``); storage secrets are
    refused, because environment definitions are stored in plain text.

    Packages come from conda-forge (Python itself) and PyPI only. Nothing is sent to Azure: register
    the result with ``env.register(workspace=ws)`` to reuse it, as the tutorial does, or just pass it
    to :func:`make_inference_config`.
    """
    core = _import_azureml()
    name = check_asset_name("environment", name)
    if name.lower().startswith(("microsoft", "azureml")):
        raise DeploymentArgumentError(
            f"environment name {name!r} is reserved: names starting with 'Microsoft' or 'AzureML' "
            "belong to Azure ML's curated environments"
        )
    backend = check_backend(backend)
    packages = pip_requirements(heedu_requirement, backend, extra_pip_packages)
    variables = {"HEEDU_BACKEND": backend, **check_environment_variables(environment_variables)}

    conda = core.CondaDependencies.create(
        pip_packages=packages, python_version=check_python_version(python_version), pin_sdk_version=False
    )
    # azureml-core 1.61 adds '--find-links https://pypi.python.org/simple/index.html' and an extra index
    # (it compares its index URL with and without 'index.html'): PyPI is pip's default anyway.
    for option in list(conda.pip_options):
        conda.remove_pip_option(option)
    # Python from conda-forge only: the 'anaconda' channel has commercial terms of service.
    for channel in list(conda.conda_channels):
        if channel not in CONDA_CHANNELS:
            conda.remove_channel(channel)
    for channel in CONDA_CHANNELS:
        conda.add_channel(channel)

    conda.add_conda_package("pip")  # the pip that installs the packages above, from conda-forge too

    env = core.Environment(name)
    env.python.conda_dependencies = conda
    # The SDK marks this property deprecated for training runs (use RunConfiguration there); for a web
    # service it is how variables reach the scoring container, so its warning is silenced here.
    with _quiet("azureml.core.environment"):
        env.environment_variables = variables  # also drops the SDK's EXAMPLE_ENV_VAR placeholder
    return env


def make_inference_config(
    source_directory: str | os.PathLike[str],
    entry_script: str = "score.py",
    environment: Any = None,
) -> Any:
    """Step 2: what to run in the container, ``InferenceConfig(entry_script="score.py", environment=env)``.

    ``source_directory`` is uploaded into the image (keep secrets and large files out of it) and must
    hold ``entry_script``, a Python file with ``init()`` and ``run(raw_data)``: heedu's is
    ``azure_adapter/score.py``, so pass the ``azure_adapter`` directory. ``environment`` defaults to
    :func:`make_environment`\\ ``()``.
    """
    core = _import_azureml()
    if not isinstance(source_directory, (str, os.PathLike)):
        raise DeploymentArgumentError(f"source_directory must be a path, got {source_directory!r}")
    directory = Path(source_directory)
    if not directory.is_dir():
        raise DeploymentArgumentError(f"source_directory {str(directory)!r} is not a directory")
    if not isinstance(entry_script, str) or not entry_script.endswith(".py"):
        raise DeploymentArgumentError(f"entry_script must be the name of a .py file, got {entry_script!r}")
    if Path(entry_script).is_absolute() or ".." in Path(entry_script).parts:
        raise DeploymentArgumentError(f"entry_script {entry_script!r} must be a path inside source_directory")
    if not (directory / entry_script).is_file():
        raise DeploymentArgumentError(
            f"entry script {entry_script!r} not found in {str(directory)!r}: it must define init() and run(raw_data)"
        )
    module = Path(entry_script).stem
    if not module.isidentifier():
        raise DeploymentArgumentError(f"entry script {entry_script!r} must be importable: {module!r} is no identifier")
    if environment is None:
        environment = make_environment()
    elif not isinstance(environment, core.Environment):
        raise DeploymentArgumentError(f"environment must be an azureml Environment, got {type(environment).__name__}")

    # InferenceConfig logs a warning when 'azureml-defaults' is absent; azureml-inference-server-http
    # is what that package would bring in for serving, so the warning does not apply here.
    with _quiet("azureml.core.model"):
        try:
            return core.InferenceConfig(
                entry_script=entry_script, source_directory=str(directory), environment=environment
            )
        except core.WebserviceException as exc:  # pragma: no cover - our checks above come first
            raise wrap_error(
                DeploymentArgumentError, f"invalid inference configuration: {first_line(exc)}", exc
            ) from None


# ----------------------------------------------------------------------------------------- compute


def make_aci_config(
    cpu_cores: float = 1,
    memory_gb: float = 2,
    auth_enabled: bool = True,
    *,
    tags: Mapping[str, str] | None = None,
    description: str = DEFAULT_DESCRIPTION,
    location: str | None = None,
    enable_app_insights: bool = False,
    dns_name_label: str | None = None,
) -> Any:
    """Step 3: the container's size on Azure Container Instances (``AciWebservice.deploy_configuration``).

    The tutorial uses 1 core and 1 GB. heedu's default is 2 GB: at the tutorial's parameters
    (N = 8192) a client's public and Galois keys are tens of megabytes, and the service caches a few
    of them. ACI allows up to 4 cores and 16 GB per container in most regions. Changing the size
    later means redeploying.

    ``auth_enabled=True`` (the SDK's default is False) makes the endpoint require a key
    (``service.get_keys()``): an encrypted-inference endpoint still burns compute for anyone who
    finds its URL. ACI suits testing; for production use :func:`make_aks_config` or SDK v2.
    """
    core = _import_azureml()
    config = core.AciWebservice.deploy_configuration(
        cpu_cores=check_number("cpu_cores", cpu_cores, 0, ACI_MAX_CPU_CORES, unit=" (ACI's limit)"),
        memory_gb=check_number("memory_gb", memory_gb, 0, ACI_MAX_MEMORY_GB, unit=" GB (ACI's limit)"),
        auth_enabled=check_flag("auth_enabled", auth_enabled),
        tags=check_tags(tags, {"data": "MNIST", "method": "sklearn", "encryption": "heedu-ckks"}),
        description=description,
        location=location,
        enable_app_insights=check_flag("enable_app_insights", enable_app_insights),
        dns_name_label=dns_name_label,
    )
    _validate(core, config)
    return config


def make_aks_config(
    autoscale_enabled: bool = True,
    autoscale_min_replicas: int = 1,
    autoscale_max_replicas: int = 4,
    autoscale_target_utilization: int = 70,
    *,
    autoscale_refresh_seconds: int = 10,
    num_replicas: int | None = None,
    cpu_cores: float = 1,
    memory_gb: float = 2,
    auth_enabled: bool = True,
    scoring_timeout_ms: int = 60_000,
    replica_max_concurrent_requests: int = 1,
    tags: Mapping[str, str] | None = None,
    description: str = DEFAULT_DESCRIPTION,
    compute_target_name: str | None = None,
) -> Any:
    """Step 3 for production: a web service on Azure Kubernetes Service (``AksWebservice.deploy_configuration``).

    With autoscaling (the default) AKS keeps between ``autoscale_min_replicas`` and
    ``autoscale_max_replicas`` containers, adding one when their utilization passes
    ``autoscale_target_utilization`` percent (checked every ``autoscale_refresh_seconds``). Without
    it, ``num_replicas`` fixes the count. ``replica_max_concurrent_requests=1`` because one
    encrypted prediction keeps a core busy. Deploy it with ``deployment_target=AksCompute(ws, name)``
    in :func:`deploy`.
    """
    core = _import_azureml()
    autoscale_enabled = check_flag("autoscale_enabled", autoscale_enabled)
    settings: dict[str, Any] = {"autoscale_enabled": autoscale_enabled}
    if autoscale_enabled:
        if num_replicas is not None:
            raise DeploymentArgumentError("num_replicas fixes the replica count: leave it None when autoscaling")
        low = check_count("autoscale_min_replicas", autoscale_min_replicas, 1)
        high = check_count("autoscale_max_replicas", autoscale_max_replicas, 1)
        if high < low:
            raise DeploymentArgumentError(f"autoscale_max_replicas ({high}) must be >= autoscale_min_replicas ({low})")
        settings.update(
            autoscale_min_replicas=low,
            autoscale_max_replicas=high,
            autoscale_target_utilization=check_count(
                "autoscale_target_utilization", autoscale_target_utilization, 1, 100
            ),
            autoscale_refresh_seconds=check_count("autoscale_refresh_seconds", autoscale_refresh_seconds, 1),
        )
    else:
        if num_replicas is None:
            raise DeploymentArgumentError("without autoscaling, set num_replicas (the fixed number of containers)")
        settings["num_replicas"] = check_count("num_replicas", num_replicas, 1)

    config = core.AksWebservice.deploy_configuration(
        **settings,
        cpu_cores=check_number("cpu_cores", cpu_cores, 0, math.inf),
        memory_gb=check_number("memory_gb", memory_gb, 0, math.inf, unit=" GB"),
        auth_enabled=check_flag("auth_enabled", auth_enabled),
        scoring_timeout_ms=check_count("scoring_timeout_ms", scoring_timeout_ms, 1),
        replica_max_concurrent_requests=check_count(
            "replica_max_concurrent_requests", replica_max_concurrent_requests, 1
        ),
        tags=check_tags(tags, {"data": "MNIST", "method": "sklearn", "encryption": "heedu-ckks"}),
        description=description,
        compute_target_name=compute_target_name,
    )
    _validate(core, config)
    return config


def _validate(core: SimpleNamespace, config: Any) -> None:
    """Run the SDK's own checks too, reporting them as our typed error."""
    try:
        config.validate_configuration()
    except core.WebserviceException as exc:  # pragma: no cover - our checks above come first
        raise wrap_error(DeploymentArgumentError, f"invalid deployment configuration: {first_line(exc)}", exc) from None


# ------------------------------------------------------------------------------------- workspace


def load_workspace(config_path: str | os.PathLike[str] | None = None, auth: Any = None) -> Any:
    """Connect to the Azure ML workspace described by ``config.json``: the tutorial's ``Workspace.from_config()``.

    The config file is found and checked offline first (see :func:`read_workspace_config`), so a
    missing or broken one gives an :class:`AzureConfigurationError` explaining how to create it,
    never an azureml traceback. Then the SDK signs in (``auth``: default Azure CLI credentials,
    else an interactive login) and looks the workspace up; a failure there (not logged in, no
    access, no such workspace) is an :class:`AzureConfigurationError` too, with the SDK's error in
    its ``azure_error`` attribute.
    """
    config = read_workspace_config(config_path)
    core = _import_azureml()
    try:
        return core.Workspace.from_config(path=config["path"], auth=auth)
    except Exception as exc:  # the SDK raises many unrelated types here; all mean "cannot reach the workspace"
        raise wrap_error(
            AzureConfigurationError,
            f"Could not open Azure ML workspace {config['workspace_name']!r} (resource group "
            f"{config['resource_group']!r}, subscription {config['subscription_id']!r}) described in "
            f"{config['path']}: {first_line(exc)}\nCheck that you are signed in (az login), that the workspace "
            "exists, and that your account has access to it.",
            exc,
        ) from None


# ----------------------------------------------------------------------------------------- models


def register_model(
    ws: Any, path: str | os.PathLike[str], name: str, *, tags: Mapping[str, str] | None = None, description: str = ""
) -> Any:
    """Upload a trained model file (or folder) to the workspace's model registry: ``Model.register``.

    Each call makes a new version of ``name``. The tutorial registers ``sklearn_mnist_model.pkl``
    as ``sklearn_mnist``; in the container the file appears under ``AZUREML_MODEL_DIR``.
    """
    core = _import_azureml()
    if not isinstance(path, (str, os.PathLike)) or not Path(path).exists():
        raise DeploymentArgumentError(f"model path {path!r} does not exist")
    name = check_asset_name("model", name)
    try:
        return core.Model.register(
            workspace=ws,
            model_path=str(path),
            model_name=name,
            tags=check_tags(tags, {"encryption": "heedu-ckks"}),
            description=description,
        )
    except core.AzureMLException as exc:
        raise wrap_error(DeploymentError, f"registering model {name!r} failed: {first_line(exc)}", exc) from exc


def get_model(ws: Any, name: str, version: int | None = None) -> Any:
    """A model already registered in the workspace: the tutorial's ``Model(ws, 'sklearn_mnist')`` (latest version)."""
    core = _import_azureml()
    name = check_asset_name("model", name)
    if version is not None:
        version = check_count("version", version, 1)
    try:
        return core.Model(ws, name=name, version=version)
    except core.AzureMLException as exc:
        raise wrap_error(DeploymentError, f"model {name!r} not found in the workspace: {first_line(exc)}", exc) from exc


# ------------------------------------------------------------------------------------------ deploy


def deploy(
    ws: Any,
    name: str,
    model: Any,
    inference_config: Any,
    deployment_config: Any,
    *,
    deployment_target: Any = None,
    overwrite: bool = False,
    show_output: bool = True,
    timeout_sec: float | None = None,
) -> Any:
    """Steps 4 and 5: build the image, start the web service and wait until it is healthy.

    Calls ``Model.deploy(ws, name, [model], inference_config, deployment_config)`` and then
    ``service.wait_for_deployment(show_output=True)`` as the tutorial does; this takes a few
    minutes (longer the first time an environment is built). Returns the service:
    ``service.scoring_uri`` is the HTTP endpoint clients POST to, ``service.run(input_data)`` calls it
    from Python, ``service.get_keys()`` gives the keys when auth is enabled.

    ``model`` may be one model or a list. ``name`` must be 3 to 32 lowercase letters, digits or
    dashes. With ``overwrite=True`` an existing service of that name is replaced. On failure a
    :class:`DeploymentError` carries the SDK's message and, when available, the container's log tail.
    """
    core = _import_azureml()
    name = check_service_name(name)
    models = list(model) if isinstance(model, (list, tuple)) else [model]
    if not models:
        raise DeploymentArgumentError("deploy needs at least one model")
    overwrite = check_flag("overwrite", overwrite)
    if timeout_sec is not None:
        check_number("timeout_sec", timeout_sec, 0, math.inf, unit=" s")
    try:
        service = core.Model.deploy(
            workspace=ws,
            name=name,
            models=models,
            inference_config=inference_config,
            deployment_config=deployment_config,
            deployment_target=deployment_target,
            overwrite=overwrite,
        )
    except core.AzureMLException as exc:
        raise wrap_error(
            DeploymentError, f"deploying service {name!r} failed to start: {first_line(exc)}", exc
        ) from exc
    try:
        service.wait_for_deployment(show_output=show_output, timeout_sec=timeout_sec)
    except core.AzureMLException as exc:
        logs = ""
        try:
            logs = "\nLast lines of the container log:\n" + "\n".join(str(service.get_logs()).splitlines()[-30:])
        except Exception:  # best effort: the container may never have started
            pass
        raise wrap_error(
            DeploymentError,
            f"service {name!r} did not become healthy: {first_line(exc)}{logs}\n"
            "Try the same score.py locally first (azure_adapter.local_stack), then service.get_logs().",
            exc,
        ) from exc
    return service


def delete(service: Any) -> None:
    """Clean up: delete the web service (``service.delete()``) so it stops costing money.

    The registered model and environment stay in the workspace (they cost next to nothing); delete
    the workspace's resource group to remove everything.
    """
    core = _import_azureml()
    try:
        service.delete()
    except core.AzureMLException as exc:
        name = getattr(service, "name", "?")
        raise wrap_error(DeploymentError, f"deleting service {name!r} failed: {first_line(exc)}", exc) from exc
