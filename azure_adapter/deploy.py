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

import json
import logging
import math
import numbers
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from heedu import __version__ as HEEDU_VERSION
from heedu.errors import HeeduError

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

BACKENDS = ("heedu", "seal")
"""Values of ``HEEDU_BACKEND``: heedu's own server, or the tutorial's SEAL-based ``encrypted-inference``."""

SEAL_PACKAGE = "encrypted-inference==0.9"
"""The tutorial's SEAL-backed package (a preview, pinned as the tutorial pins it)."""

DEFAULT_HEEDU_REQUIREMENT = f"heedu=={HEEDU_VERSION}"
"""The heedu the container installs unless told otherwise: the same version as the one deploying."""

# What score.py needs besides heedu: NumPy (heedu's only dependency), scikit-learn (joblib, to
# unpickle the tutorial's LogisticRegression), azure-storage-blob (to download the public keys)
# and Azure ML's inference server (the HTTP front that calls init() and run()).
BASE_PIP_PACKAGES = (
    "numpy>=1.24",
    "scikit-learn>=1.3",
    "azure-storage-blob>=12.10",
    "azureml-inference-server-http>=1.4,<2",
)

DEFAULT_PYTHON_VERSION = "3.11"
CONDA_CHANNELS = ("conda-forge",)
DEFAULT_DESCRIPTION = "Encrypted Predict MNIST with sklearn + heedu (CKKS)"

# Azure Container Instances: a container group gets at most 4 cores and 16 GB in most regions.
ACI_MAX_CPU_CORES = 4.0
ACI_MAX_MEMORY_GB = 16.0

_CONFIG_DIRS = (".azureml", "aml_config", None)  # searched in this order, as azureml-core does
_CONFIG_FILES = ("config.json", "project.json")
_CONFIG_KEYS = ("subscription_id", "resource_group", "workspace_name")
_SERVICE_NAME = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
_ASSET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_ENV_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PYTHON_VERSION = re.compile(r"3\.(\d+)(\.\d+)?")


# --------------------------------------------------------------------------------------------- errors


class AzureConfigurationError(HeeduError, RuntimeError):
    """Azure ML cannot be used as configured: no workspace config, an unreadable one, or no access.

    ``azure_error`` holds the Azure SDK's own exception when there was one, for debugging; the
    message already says what went wrong and what to do.
    """

    azure_error: BaseException | None = None


class DeploymentArgumentError(AzureConfigurationError, ValueError):
    """An argument of a configuration builder is out of range or malformed."""


class AzureSDKNotInstalledError(AzureConfigurationError, ImportError):
    """The Azure ML SDK this function needs is not installed."""


class DeploymentError(HeeduError, RuntimeError):
    """Azure accepted the request, but registering, deploying or deleting failed in the cloud."""

    azure_error: BaseException | None = None


def _wrap(error_class: type, message: str, cause: BaseException) -> HeeduError:
    error = error_class(message)
    error.azure_error = cause
    return error


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


def _first_line(error: BaseException) -> str:
    text = str(getattr(error, "message", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__


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


# ----------------------------------------------------------------------------------------- validation


def _number(name: str, value: object, low: float, high: float, *, unit: str = "") -> float:
    """A finite real in (low, high]; booleans and NaN are refused."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise DeploymentArgumentError(f"{name} must be a finite number, got {value!r}")
    if not low < value <= high:
        bound = f"> {low:g}" if math.isinf(high) else f"> {low:g} and <= {high:g}{unit}"
        raise DeploymentArgumentError(f"{name} must be {bound}, got {value!r}")
    return float(value)


def _count(name: str, value: object, low: int, high: int | None = None) -> int:
    """An integer in [low, high]; booleans and floats are refused."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise DeploymentArgumentError(f"{name} must be an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f">= {low}"
        raise DeploymentArgumentError(f"{name} must be {bound}, got {value}")
    return int(value)


def _flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise DeploymentArgumentError(f"{name} must be True or False, got {value!r}")
    return value


def _tags(tags: Mapping[str, str] | None, default: Mapping[str, str]) -> dict[str, str]:
    if tags is None:
        return dict(default)
    if not isinstance(tags, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in tags.items()):
        raise DeploymentArgumentError(f"tags must be a mapping of str to str, got {tags!r}")
    return dict(tags)


def _backend(backend: object) -> str:
    if backend not in BACKENDS:
        raise DeploymentArgumentError(f"backend must be one of {BACKENDS}, got {backend!r}")
    return str(backend)


def _service_name(name: object) -> str:
    if not isinstance(name, str) or not 3 <= len(name) <= 32 or not _SERVICE_NAME.fullmatch(name):
        raise DeploymentArgumentError(
            f"service name {name!r} is invalid: use 3 to 32 lowercase letters, digits or dashes, "
            "starting with a letter and ending with a letter or digit (e.g. 'heedu-encrypted-mnist')"
        )
    return name


def _asset_name(kind: str, name: object) -> str:
    if not isinstance(name, str) or not 1 <= len(name) <= 255 or not _ASSET_NAME.fullmatch(name):
        raise DeploymentArgumentError(
            f"{kind} name {name!r} is invalid: use up to 255 letters, digits, '-', '_' or '.', "
            "starting with a letter or digit"
        )
    return name


def _python_version(version: object) -> str:
    match = _PYTHON_VERSION.fullmatch(version) if isinstance(version, str) else None
    if match is None or int(match.group(1)) < 10:
        raise DeploymentArgumentError(f"python_version must be '3.10' or later (heedu's minimum), got {version!r}")
    return str(version)


def _one_requirement(text: str) -> bool:
    """One requirement line: no pip options (``-...``) and no line breaks that would smuggle some in."""
    return not text.startswith("-") and " -" not in text and not any(c in text for c in "\r\n\t\x00")


def _heedu_requirement(requirement: object) -> str:
    """A PEP 508 requirement naming heedu, or the URL or path of a heedu wheel; nothing pip would read as options."""
    if not isinstance(requirement, str) or not requirement.strip() or requirement != requirement.strip():
        raise DeploymentArgumentError(f"heedu_requirement must be a non-empty string, got {requirement!r}")
    if not _one_requirement(requirement):
        raise DeploymentArgumentError(
            f"heedu_requirement {requirement!r} must be one requirement (e.g. 'heedu==0.1.0', "
            "'heedu @ https://.../heedu-0.1.0-py3-none-any.whl' or a wheel URL), not pip options"
        )
    base = requirement.rsplit("/", 1)[-1].split("?", 1)[0]
    if base.endswith(".whl"):
        if not base.startswith("heedu-"):
            raise DeploymentArgumentError(f"heedu_requirement {requirement!r} is a wheel, but not a heedu wheel")
        return requirement
    name = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
    if name is None or re.sub(r"[-_.]+", "-", name.group(0)).lower() != "heedu":
        raise DeploymentArgumentError(
            f"heedu_requirement {requirement!r} does not name heedu: write e.g. 'heedu=={HEEDU_VERSION}', "
            "'heedu @ <wheel URL>' or the URL of a heedu-*.whl"
        )
    return requirement


def _environment_variables(variables: Mapping[str, str] | None) -> dict[str, str]:
    if variables is None:
        return {}
    if not isinstance(variables, Mapping):
        raise DeploymentArgumentError(f"environment_variables must be a mapping of str to str, got {variables!r}")
    checked = {}
    for key, value in variables.items():
        if not isinstance(key, str) or not _ENV_VAR_NAME.fullmatch(key) or not isinstance(value, str):
            raise DeploymentArgumentError(f"environment variable {key!r}={value!r} must be a valid name and a str")
        if key == "HEEDU_BACKEND":
            raise DeploymentArgumentError("set HEEDU_BACKEND with the backend argument, not environment_variables")
        if re.search(r"AccountKey=|SharedAccessSignature=|[?&]sig=", value):
            raise DeploymentArgumentError(
                f"environment variable {key} holds a storage secret; environment definitions are stored and "
                "shown in plain text in the workspace. Give the service a managed identity or a Key Vault "
                "reference instead"
            )
        checked[key] = value
    return checked


# -------------------------------------------------------------------------------------- environment


def pip_requirements(
    heedu_requirement: str = DEFAULT_HEEDU_REQUIREMENT,
    backend: str = "heedu",
    extra_pip_packages: Iterable[str] = (),
) -> list[str]:
    """The pip packages the scoring container installs, validated; shared by the v1 and v2 deployments.

    heedu (``heedu_requirement``), NumPy, scikit-learn, azure-storage-blob and Azure ML's inference
    server; for ``backend="seal"`` also the tutorial's ``encrypted-inference==0.9``, which
    ``score.py`` then serves through.
    """
    packages = [_heedu_requirement(heedu_requirement), *BASE_PIP_PACKAGES]
    if _backend(backend) == "seal":
        packages.append(SEAL_PACKAGE)
    if isinstance(extra_pip_packages, str):
        raise DeploymentArgumentError("extra_pip_packages must be a list of requirements, not one string")
    for package in extra_pip_packages:
        if not isinstance(package, str) or not package.strip() or not _one_requirement(package.strip()):
            raise DeploymentArgumentError(f"extra pip package {package!r} must be one requirement, not pip options")
        packages.append(package.strip())
    return packages


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
    name = _asset_name("environment", name)
    if name.lower().startswith(("microsoft", "azureml")):
        raise DeploymentArgumentError(
            f"environment name {name!r} is reserved: names starting with 'Microsoft' or 'AzureML' "
            "belong to Azure ML's curated environments"
        )
    backend = _backend(backend)
    packages = pip_requirements(heedu_requirement, backend, extra_pip_packages)
    variables = {"HEEDU_BACKEND": backend, **_environment_variables(environment_variables)}

    conda = core.CondaDependencies.create(
        pip_packages=packages, python_version=_python_version(python_version), pin_sdk_version=False
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
            raise _wrap(DeploymentArgumentError, f"invalid inference configuration: {_first_line(exc)}", exc) from None


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
        cpu_cores=_number("cpu_cores", cpu_cores, 0, ACI_MAX_CPU_CORES, unit=" (ACI's limit)"),
        memory_gb=_number("memory_gb", memory_gb, 0, ACI_MAX_MEMORY_GB, unit=" GB (ACI's limit)"),
        auth_enabled=_flag("auth_enabled", auth_enabled),
        tags=_tags(tags, {"data": "MNIST", "method": "sklearn", "encryption": "heedu-ckks"}),
        description=description,
        location=location,
        enable_app_insights=_flag("enable_app_insights", enable_app_insights),
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
    autoscale_enabled = _flag("autoscale_enabled", autoscale_enabled)
    settings: dict[str, Any] = {"autoscale_enabled": autoscale_enabled}
    if autoscale_enabled:
        if num_replicas is not None:
            raise DeploymentArgumentError("num_replicas fixes the replica count: leave it None when autoscaling")
        low = _count("autoscale_min_replicas", autoscale_min_replicas, 1)
        high = _count("autoscale_max_replicas", autoscale_max_replicas, 1)
        if high < low:
            raise DeploymentArgumentError(f"autoscale_max_replicas ({high}) must be >= autoscale_min_replicas ({low})")
        settings.update(
            autoscale_min_replicas=low,
            autoscale_max_replicas=high,
            autoscale_target_utilization=_count("autoscale_target_utilization", autoscale_target_utilization, 1, 100),
            autoscale_refresh_seconds=_count("autoscale_refresh_seconds", autoscale_refresh_seconds, 1),
        )
    else:
        if num_replicas is None:
            raise DeploymentArgumentError("without autoscaling, set num_replicas (the fixed number of containers)")
        settings["num_replicas"] = _count("num_replicas", num_replicas, 1)

    config = core.AksWebservice.deploy_configuration(
        **settings,
        cpu_cores=_number("cpu_cores", cpu_cores, 0, math.inf),
        memory_gb=_number("memory_gb", memory_gb, 0, math.inf, unit=" GB"),
        auth_enabled=_flag("auth_enabled", auth_enabled),
        scoring_timeout_ms=_count("scoring_timeout_ms", scoring_timeout_ms, 1),
        replica_max_concurrent_requests=_count("replica_max_concurrent_requests", replica_max_concurrent_requests, 1),
        tags=_tags(tags, {"data": "MNIST", "method": "sklearn", "encryption": "heedu-ckks"}),
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
        raise _wrap(DeploymentArgumentError, f"invalid deployment configuration: {_first_line(exc)}", exc) from None


# ------------------------------------------------------------------------------------- workspace


def find_workspace_config(path: str | os.PathLike[str] | None = None) -> Path | None:
    """The workspace config file ``Workspace.from_config`` would read, or None; offline.

    ``path`` may name the file itself, or a directory to search from (default: the current one).
    As azureml-core does, it looks for ``.azureml/config.json``, ``aml_config/config.json`` and
    ``config.json`` (then the legacy ``project.json``) in that directory and each of its parents.
    """
    start = Path(path if path is not None else ".").expanduser()
    if start.is_file():
        return start
    if not start.is_dir():
        return None
    folders = [start.resolve(), *start.resolve().parents]
    for subdirectory in _CONFIG_DIRS:
        for file_name in _CONFIG_FILES:
            for folder in folders:
                candidate = folder / subdirectory / file_name if subdirectory else folder / file_name
                if candidate.is_file():
                    return candidate
    return None


_HOW_TO_CONFIGURE = (
    "Create it once: in Azure ML studio (https://ml.azure.com) open your workspace, click its name at the "
    "top right and choose 'Download config file', then save it as config.json in your project directory "
    "(or .azureml/config.json), or pass its path as config_path. It is a small JSON file:\n"
    '    {"subscription_id": "<subscription id>", "resource_group": "<resource group>", '
    '"workspace_name": "<workspace name>"}\n'
    "With the SDK you can also write it: Workspace.get(name, subscription_id=..., resource_group=...).write_config()"
)


def read_workspace_config(path: str | os.PathLike[str] | None = None) -> dict[str, str]:
    """Find and read the workspace config offline: ``subscription_id``, ``resource_group``, ``workspace_name``
    (and ``path``, the file read).

    Raises :class:`AzureConfigurationError` saying how to create the file when there is none, and
    what is wrong with it when it is unreadable or incomplete. Also reads the ``Scope`` form
    (``/subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.MachineLearningServices/workspaces/<name>``).
    """
    found = find_workspace_config(path)
    if found is None:
        where = Path(path if path is not None else ".").expanduser().resolve()
        if not where.is_dir():
            raise AzureConfigurationError(
                f"No Azure ML workspace configuration found: {where} does not exist.\n{_HOW_TO_CONFIGURE}"
            )
        raise AzureConfigurationError(
            f"No Azure ML workspace configuration found: looked for config.json (also .azureml/config.json and "
            f"aml_config/config.json) in {where} and its parent directories.\n{_HOW_TO_CONFIGURE}"
        )
    try:
        content = json.loads(found.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AzureConfigurationError(
            f"The workspace configuration {found} is not readable JSON ({exc}).\n{_HOW_TO_CONFIGURE}"
        ) from None
    if not isinstance(content, dict):
        raise AzureConfigurationError(
            f"The workspace configuration {found} must be a JSON object.\n{_HOW_TO_CONFIGURE}"
        )
    scope = content.get("Scope")
    if isinstance(scope, str) and scope:
        pieces = scope.strip("/").split("/")
        if len(pieces) != 8 or pieces[0].lower() != "subscriptions" or pieces[2].lower() != "resourcegroups":
            raise AzureConfigurationError(f"The 'Scope' in {found} is not a workspace resource id: {scope!r}")
        content = {"subscription_id": pieces[1], "resource_group": pieces[3], "workspace_name": pieces[7]}
    missing = [key for key in _CONFIG_KEYS if not isinstance(content.get(key), str) or not content[key].strip()]
    if missing:
        raise AzureConfigurationError(
            f"The workspace configuration {found} lacks {', '.join(missing)}.\n{_HOW_TO_CONFIGURE}"
        )
    return {key: content[key].strip() for key in _CONFIG_KEYS} | {"path": str(found)}


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
        raise _wrap(
            AzureConfigurationError,
            f"Could not open Azure ML workspace {config['workspace_name']!r} (resource group "
            f"{config['resource_group']!r}, subscription {config['subscription_id']!r}) described in "
            f"{config['path']}: {_first_line(exc)}\nCheck that you are signed in (az login), that the workspace "
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
    name = _asset_name("model", name)
    try:
        return core.Model.register(
            workspace=ws,
            model_path=str(path),
            model_name=name,
            tags=_tags(tags, {"encryption": "heedu-ckks"}),
            description=description,
        )
    except core.AzureMLException as exc:
        raise _wrap(DeploymentError, f"registering model {name!r} failed: {_first_line(exc)}", exc) from exc


def get_model(ws: Any, name: str, version: int | None = None) -> Any:
    """A model already registered in the workspace: the tutorial's ``Model(ws, 'sklearn_mnist')`` (latest version)."""
    core = _import_azureml()
    name = _asset_name("model", name)
    if version is not None:
        version = _count("version", version, 1)
    try:
        return core.Model(ws, name=name, version=version)
    except core.AzureMLException as exc:
        raise _wrap(DeploymentError, f"model {name!r} not found in the workspace: {_first_line(exc)}", exc) from exc


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
    name = _service_name(name)
    models = list(model) if isinstance(model, (list, tuple)) else [model]
    if not models:
        raise DeploymentArgumentError("deploy needs at least one model")
    overwrite = _flag("overwrite", overwrite)
    if timeout_sec is not None:
        _number("timeout_sec", timeout_sec, 0, math.inf, unit=" s")
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
        raise _wrap(DeploymentError, f"deploying service {name!r} failed to start: {_first_line(exc)}", exc) from exc
    try:
        service.wait_for_deployment(show_output=show_output, timeout_sec=timeout_sec)
    except core.AzureMLException as exc:
        logs = ""
        try:
            logs = "\nLast lines of the container log:\n" + "\n".join(str(service.get_logs()).splitlines()[-30:])
        except Exception:  # best effort: the container may never have started
            pass
        raise _wrap(
            DeploymentError,
            f"service {name!r} did not become healthy: {_first_line(exc)}{logs}\n"
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
        raise _wrap(DeploymentError, f"deleting service {name!r} failed: {_first_line(exc)}", exc) from exc
