"""Generate interop fixtures with the real ``encrypted-inference==0.9`` package (SEAL 3.5 inside).

Run it as a script::

    python tests/data/make_ei_fixtures.py OUTDIR [--features 784] [--classes 10]

or import it and call :func:`generate` (returns an :class:`EIFixtures`), :func:`write_fixtures` and
:func:`load_fixtures`. The files it writes are described in ``tests/data/README.md``; none of them is
committed (the public-key blob alone is about 9 MB), tests make them on the fly.

What is deterministic: the secret key (a fixed 64-byte seed, so the key id and the SEAL secret are
always the same), the model and the input vector (fixed NumPy seeds), and ``EIServer.predict`` (the
same input ciphertexts, public keys and model give byte-identical results). What is not: the Galois
keys in the public-key blob and the input ciphertexts (SEAL draws fresh seeds from the OS each call),
so the result bytes differ between runs of this script, but are a pure function of the files.

Importing this module does not import the package (``pytest --doctest-modules`` collects it, and the
package is optional); the functions that need it import it and raise ``ImportError`` with a hint.
Beware: the package's native library aborts the whole process (uncaught C++ exception, SIGABRT) on
many malformed inputs; only valid calls are made here. Its first import writes ``libeisdk.so`` into
its own site-packages folder.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import platform
import struct
import sys
import zlib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

PACKAGE = "encrypted-inference"
PACKAGE_VERSION = "0.9"
N_FEATURES = 784
N_CLASSES = 10
MODEL_SEED = 20200709
INPUT_SEED = 784
SECRET_KEY_LABEL = b"heedu tests/data: encrypted-inference 0.9 fixture secret key"
SLOT_COUNT = 4096
#: Largest |decrypted - plaintext| score accepted by the self-check (observed: about 1e-6).
TOLERANCE = 1e-3

FILES = {
    "secret_key": "secret_key.b64",
    "public_keys": "public_keys.bin",
    "model": "model.npz",
    "encrypted_input": "encrypted_input.json",
    "result": "result.json",
    "manifest": "manifest.json",
}


class SealHeader(NamedTuple):
    """The 16-byte SEAL serialization header, little-endian ``<HBBBBHQ``."""

    magic: int
    header_size: int
    version_major: int
    version_minor: int
    compr_mode: int
    reserved: int
    size: int

    @classmethod
    def parse(cls, blob: bytes, offset: int = 0) -> SealHeader:
        return cls(*struct.unpack_from("<HBBBBHQ", blob, offset))


@dataclass(frozen=True)
class EIFixtures:
    """One client, one model, one encrypted query and the server's encrypted answer."""

    secret_key: str  # base64 of the 64-byte seed, as EILinearRegressionClient.secret_key() returns it
    secret_key_hash: str  # EILinearRegressionClient.secret_key_hash(): 52 lower-case base32 characters
    key_id: str  # get_public_keys()[0]: the first 32 characters of secret_key_hash
    public_keys: bytes  # get_public_keys()[1]: GaloisKeys object then RelinKeys object
    x: np.ndarray  # the plaintext input, float64, shape (n_features,)
    coef: np.ndarray  # the model's weights, float64, shape (n_classes, n_features)
    intercept: np.ndarray  # float64, shape (n_classes,)
    encrypted_input: list[str]  # client.encrypt(x): one base64 string per 4096 features
    result: list[str]  # EIServer(coef, intercept).predict(encrypted_input, public_keys): one per class
    decrypted: np.ndarray  # client.decrypt(result), float64, shape (n_classes,)

    @property
    def expected(self) -> np.ndarray:
        """The plaintext scores ``coef @ x + intercept``."""
        return self.coef @ self.x + self.intercept

    @property
    def n_features(self) -> int:
        return int(self.x.shape[0])

    @property
    def n_classes(self) -> int:
        return int(self.coef.shape[0])


def fixture_secret_key(label: bytes = SECRET_KEY_LABEL) -> str:
    """A fixed client secret key: base64 of the 64-byte BLAKE2b-512 digest of ``label``.

    Any 64 bytes are a valid key for the package (it is the seed of SEAL's secret-key sampler).
    """
    return base64.b64encode(hashlib.blake2b(label, digest_size=64).digest()).decode("ascii")


def secret_key_hash(secret_key: str) -> str:
    """What ``secret_key_hash()`` returns, computed without the package.

    Lower-case base32 of BLAKE2b-256 over the 64 raw key bytes, '=' padding stripped (52 characters).
    """
    raw = base64.b64decode(secret_key)
    if len(raw) != 64:
        raise ValueError(f"a secret key is 64 bytes, got {len(raw)}")
    digest = hashlib.blake2b(raw, digest_size=32).digest()
    return base64.b32encode(digest).decode("ascii").lower().strip("=")


def key_id(secret_key: str) -> str:
    """The public-keys id that ``get_public_keys()`` returns: the first 32 characters of the hash."""
    return secret_key_hash(secret_key)[:32]


def make_model(
    n_classes: int = N_CLASSES, n_features: int = N_FEATURES, seed: int = MODEL_SEED
) -> tuple[np.ndarray, np.ndarray]:
    """Weights and intercepts of the size and magnitude of the tutorial's sklearn MNIST model."""
    rng = np.random.default_rng(seed)
    coef = rng.normal(0.0, 0.05, size=(n_classes, n_features))
    intercept = rng.normal(0.0, 0.5, size=n_classes)
    return coef, intercept


def make_input(n_features: int = N_FEATURES, seed: int = INPUT_SEED) -> np.ndarray:
    """An MNIST-like input in [0, 1] (pixels / 255), about 80 % zeros."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=n_features) / 255.0
    x[rng.random(n_features) < 0.8] = 0.0
    return x


def split_public_keys(blob: bytes) -> tuple[bytes, bytes]:
    """Split the public-key blob into its two SEAL objects: (GaloisKeys, RelinKeys)."""
    first = SealHeader.parse(blob)
    second = SealHeader.parse(blob, first.size)
    if first.size + second.size != len(blob):
        raise ValueError("the blob is not exactly two SEAL objects")
    return blob[: first.size], blob[first.size :]


def object_info(blob: bytes) -> dict[str, Any]:
    """Header fields of one serialized SEAL object and the size of its decompressed members."""
    header = SealHeader.parse(blob)
    body = blob[header.header_size : header.size]
    members = zlib.decompress(body) if header.compr_mode == 1 else body
    return {**header._asdict(), "members_size": len(members)}


def require_package() -> tuple[Any, Any]:
    """Import the package; returns ``(EILinearRegressionClient, EIServer)``."""
    try:
        version = metadata.version(PACKAGE)
        from encrypted.inference.eiclient import EILinearRegressionClient
        from encrypted.inference.eiserver import EIServer
    except (ImportError, metadata.PackageNotFoundError) as exc:
        raise ImportError(f"these fixtures need the real package: pip install {PACKAGE}=={PACKAGE_VERSION}") from exc
    if version != PACKAGE_VERSION:
        raise ImportError(f"{PACKAGE}=={PACKAGE_VERSION} expected, {version} installed")
    return EILinearRegressionClient, EIServer


def predict(coef: np.ndarray, intercept: np.ndarray, encrypted_input: list[str], public_keys: bytes) -> list[str]:
    """``EIServer(coef, intercept).predict(...)``: deterministic for fixed arguments."""
    _, server_class = require_package()
    return server_class(coef, intercept).predict(list(encrypted_input), bytes(public_keys))


def decrypt(secret_key: str, result: list[str]) -> np.ndarray:
    """Decrypt with a client rebuilt from the secret key (reads slot 0 of each ciphertext)."""
    client_class, _ = require_package()
    return client_class(secret_key).decrypt(list(result))


def generate(
    secret_key: str | None = None,
    n_features: int = N_FEATURES,
    n_classes: int = N_CLASSES,
    model_seed: int = MODEL_SEED,
    input_seed: int = INPUT_SEED,
) -> EIFixtures:
    """Run the tutorial's flow with the real package and return everything it produced.

    ``secret_key=None`` uses :func:`fixture_secret_key`. Takes about 1 s plus 0.75 s per class on 2 cores.
    """
    client_class, server_class = require_package()
    secret_key = fixture_secret_key() if secret_key is None else secret_key
    client = client_class(secret_key)
    key_hash = client.secret_key_hash()
    kid, public_keys = client.get_public_keys()
    if key_hash != secret_key_hash(secret_key) or kid != key_hash[:32]:
        raise AssertionError("the package's key id no longer matches BLAKE2b-256/base32 of the key")
    coef, intercept = make_model(n_classes, n_features, model_seed)
    x = make_input(n_features, input_seed)
    encrypted_input = client.encrypt(x)
    result = server_class(coef, intercept).predict(encrypted_input, public_keys)
    fixtures = EIFixtures(
        secret_key=secret_key,
        secret_key_hash=key_hash,
        key_id=kid,
        public_keys=public_keys,
        x=x,
        coef=coef,
        intercept=intercept,
        encrypted_input=encrypted_input,
        result=result,
        decrypted=client.decrypt(result),
    )
    error = float(np.max(np.abs(fixtures.decrypted - fixtures.expected), initial=0.0))
    if error > TOLERANCE:
        raise AssertionError(f"decrypted scores are off by {error}")
    return fixtures


def manifest(fixtures: EIFixtures) -> dict[str, Any]:
    """Everything about the fixtures that is small: ids, sizes, headers and the scores."""
    galois, relin = split_public_keys(fixtures.public_keys)
    return {
        "package": f"{PACKAGE}=={metadata.version(PACKAGE)}",
        "numpy": np.__version__,
        "python": platform.python_version(),
        "parameters": {"poly_modulus_degree": 8192, "coeff_modulus_bits": [60, 40, 40, 60], "scale": 2.0**40},
        "n_features": fixtures.n_features,
        "n_classes": fixtures.n_classes,
        "model_seed": MODEL_SEED,
        "input_seed": INPUT_SEED,
        "secret_key": fixtures.secret_key,
        "secret_key_hash": fixtures.secret_key_hash,
        "key_id": fixtures.key_id,
        "public_keys": {"size": len(fixtures.public_keys), "galois": object_info(galois), "relin": object_info(relin)},
        "encrypted_input": [object_info(base64.b64decode(s)) for s in fixtures.encrypted_input],
        "result": [object_info(base64.b64decode(s)) for s in fixtures.result],
        "expected": fixtures.expected.tolist(),
        "decrypted": fixtures.decrypted.tolist(),
        "max_abs_error": float(np.max(np.abs(fixtures.decrypted - fixtures.expected), initial=0.0)),
        "sha256": {
            "public_keys": hashlib.sha256(fixtures.public_keys).hexdigest(),
            "encrypted_input": [hashlib.sha256(s.encode("ascii")).hexdigest() for s in fixtures.encrypted_input],
            "result": [hashlib.sha256(s.encode("ascii")).hexdigest() for s in fixtures.result],
        },
    }


def write_fixtures(fixtures: EIFixtures, outdir: str | Path) -> dict[str, Path]:
    """Write the fixture files into ``outdir`` (created if needed); returns their paths by name."""
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {name: out / filename for name, filename in FILES.items()}
    paths["secret_key"].write_text(fixtures.secret_key + "\n", encoding="ascii")
    paths["public_keys"].write_bytes(fixtures.public_keys)
    np.savez(paths["model"], coef=fixtures.coef, intercept=fixtures.intercept, x=fixtures.x)
    paths["encrypted_input"].write_text(json.dumps(fixtures.encrypted_input) + "\n", encoding="ascii")
    paths["result"].write_text(json.dumps(fixtures.result) + "\n", encoding="ascii")
    paths["manifest"].write_text(json.dumps(manifest(fixtures), indent=2) + "\n", encoding="ascii")
    return paths


def load_fixtures(outdir: str | Path) -> EIFixtures:
    """Read what :func:`write_fixtures` wrote (does not need the package)."""
    out = Path(outdir)
    info = json.loads((out / FILES["manifest"]).read_text(encoding="ascii"))
    with np.load(out / FILES["model"]) as model:
        coef, intercept, x = model["coef"], model["intercept"], model["x"]
    return EIFixtures(
        secret_key=(out / FILES["secret_key"]).read_text(encoding="ascii").strip(),
        secret_key_hash=info["secret_key_hash"],
        key_id=info["key_id"],
        public_keys=(out / FILES["public_keys"]).read_bytes(),
        x=x,
        coef=coef,
        intercept=intercept,
        encrypted_input=json.loads((out / FILES["encrypted_input"]).read_text(encoding="ascii")),
        result=json.loads((out / FILES["result"]).read_text(encoding="ascii")),
        decrypted=np.asarray(info["decrypted"], dtype=float),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outdir", type=Path, help="folder to write the fixture files into")
    parser.add_argument("--features", type=int, default=N_FEATURES, help="input length (default 784)")
    parser.add_argument("--classes", type=int, default=N_CLASSES, help="number of model rows (default 10)")
    parser.add_argument("--secret-key", default=None, help="base64 of 64 bytes (default: the fixed fixture key)")
    args = parser.parse_args(argv)
    fixtures = generate(args.secret_key, n_features=args.features, n_classes=args.classes)
    paths = write_fixtures(fixtures, args.outdir)
    for name, path in paths.items():
        print(f"{name:16} {path} ({path.stat().st_size} bytes)")
    error = float(np.max(np.abs(fixtures.decrypted - fixtures.expected), initial=0.0))
    print(f"key_id {fixtures.key_id}; max |decrypted - expected| = {error:.3g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
