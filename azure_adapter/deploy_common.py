r"""What both Azure ML deployments share: the errors, the checks of every argument, pip requirements, workspace config.

:mod:`azure_adapter.deploy` (SDK v1, ``azureml-core``, the tutorial's) and
:mod:`azure_adapter.deploy_v2` (SDK v2, ``azure-ai-ml``, managed online endpoints) build different
objects from the same user input: a service name, a backend, a heedu requirement, environment
variables, a workspace config file. Each is checked here, once, offline and before any SDK is
imported, and a bad value raises :class:`DeploymentArgumentError` (a ``ValueError``) saying what is
wrong and what is allowed.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from heedu import __version__ as HEEDU_VERSION
from heedu.errors import HeeduError

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


def wrap_error(error_class: type, message: str, cause: BaseException) -> HeeduError:
    error = error_class(message)
    error.azure_error = cause
    return error


def first_line(error: BaseException) -> str:
    text = str(getattr(error, "message", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__


# ----------------------------------------------------------------------------------------- validation


def check_number(name: str, value: object, low: float, high: float, *, unit: str = "") -> float:
    """A finite real in (low, high]; booleans and NaN are refused."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise DeploymentArgumentError(f"{name} must be a finite number, got {value!r}")
    if not low < value <= high:
        bound = f"> {low:g}" if math.isinf(high) else f"> {low:g} and <= {high:g}{unit}"
        raise DeploymentArgumentError(f"{name} must be {bound}, got {value!r}")
    return float(value)


def check_count(name: str, value: object, low: int, high: int | None = None) -> int:
    """An integer in [low, high]; booleans and floats are refused."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise DeploymentArgumentError(f"{name} must be an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f">= {low}"
        raise DeploymentArgumentError(f"{name} must be {bound}, got {value}")
    return int(value)


def check_flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise DeploymentArgumentError(f"{name} must be True or False, got {value!r}")
    return value


def check_tags(tags: Mapping[str, str] | None, default: Mapping[str, str]) -> dict[str, str]:
    if tags is None:
        return dict(default)
    if not isinstance(tags, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in tags.items()):
        raise DeploymentArgumentError(f"tags must be a mapping of str to str, got {tags!r}")
    return dict(tags)


def check_backend(backend: object) -> str:
    if backend not in BACKENDS:
        raise DeploymentArgumentError(f"backend must be one of {BACKENDS}, got {backend!r}")
    return str(backend)


def check_name(kind: str, name: object, shortest: int, longest: int, pattern: re.Pattern[str], rule: str) -> str:
    """``name`` if it is a string of ``shortest`` to ``longest`` characters matching ``pattern``.

    Azure names services, endpoints and assets by different rules, but a bad name should fail here, before
    any call to Azure, with the same kind of message: ``"<kind> name '<name>' is invalid: <rule>"``.
    """
    if not isinstance(name, str) or not shortest <= len(name) <= longest or not pattern.fullmatch(name):
        raise DeploymentArgumentError(f"{kind} name {name!r} is invalid: {rule}")
    return name


def check_service_name(name: object) -> str:
    return check_name(
        "service", name, 3, 32, _SERVICE_NAME,
        "use 3 to 32 lowercase letters, digits or dashes, "
        "starting with a letter and ending with a letter or digit (e.g. 'heedu-encrypted-mnist')",
    )  # fmt: skip


def check_asset_name(kind: str, name: object) -> str:
    rule = "use up to 255 letters, digits, '-', '_' or '.', starting with a letter or digit"
    return check_name(kind, name, 1, 255, _ASSET_NAME, rule)


def check_python_version(version: object) -> str:
    match = _PYTHON_VERSION.fullmatch(version) if isinstance(version, str) else None
    if match is None or int(match.group(1)) < 10:
        raise DeploymentArgumentError(f"python_version must be '3.10' or later (heedu's minimum), got {version!r}")
    return str(version)


def is_one_requirement(text: str) -> bool:
    """One requirement line: no pip options (``-...``) and no line breaks that would smuggle some in."""
    return not text.startswith("-") and " -" not in text and not any(c in text for c in "\r\n\t\x00")


def check_heedu_requirement(requirement: object) -> str:
    """A PEP 508 requirement naming heedu, or the URL or path of a heedu wheel; nothing pip would read as options."""
    if not isinstance(requirement, str) or not requirement.strip() or requirement != requirement.strip():
        raise DeploymentArgumentError(f"heedu_requirement must be a non-empty string, got {requirement!r}")
    if not is_one_requirement(requirement):
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


def check_environment_variables(variables: Mapping[str, str] | None) -> dict[str, str]:
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
    packages = [check_heedu_requirement(heedu_requirement), *BASE_PIP_PACKAGES]
    if check_backend(backend) == "seal":
        packages.append(SEAL_PACKAGE)
    if isinstance(extra_pip_packages, str):
        raise DeploymentArgumentError("extra_pip_packages must be a list of requirements, not one string")
    for package in extra_pip_packages:
        if not isinstance(package, str) or not package.strip() or not is_one_requirement(package.strip()):
            raise DeploymentArgumentError(f"extra pip package {package!r} must be one requirement, not pip options")
        packages.append(package.strip())
    return packages


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
