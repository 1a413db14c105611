"""05 serialization: a client and a server that exchange bytes, and only bytes.

In a real deployment the client (who owns the data and the secret key) and the
server (who computes) are different processes on different machines. Here they
are two classes in one script, but they talk only through ``bytes`` made by
``heedu.serialization.dumps``: parameters, public keys, ciphertexts. The
secret key never leaves the client, and heedu refuses to serialize it unless
told to explicitly.

Run it with `python examples/05_serialization.py`.
"""

from __future__ import annotations

import math

import numpy as np

import heedu
from heedu.serialization import dumps, loads
from heedu.tools.narration import step


def size(data: bytes) -> str:
    return f"{len(data) / 1e3:8.1f} kB"


class Client:
    """Owns the secret key. Sends parameters, public keys and ciphertexts; decrypts answers."""

    def __init__(self) -> None:
        self.context = heedu.CKKSContext(heedu.CKKSParameters.tutorial())
        self._keygen = heedu.KeyGenerator(self.context)
        self.encoder = heedu.CKKSEncoder(self.context)
        # Symmetric encryption (with the secret key) yields *seeded* ciphertexts: the uniform
        # polynomial is regenerated from a 32-byte seed, so only half the data travels.
        self._encryptor = heedu.Encryptor(self.context, secret_key=self._keygen.secret_key())
        self._decryptor = heedu.Decryptor(self.context, self._keygen.secret_key())

    def parameters(self) -> bytes:
        return dumps(self.context.parameters)

    def public_key(self) -> bytes:
        return dumps(self._keygen.public_key(), self.context)

    def relin_keys(self) -> bytes:
        return dumps(self._keygen.relin_keys(), self.context)

    def encrypt(self, values: np.ndarray) -> bytes:
        return dumps(self._encryptor.encrypt_symmetric(self.encoder.encode(values)), self.context)

    def decrypt(self, answer: bytes) -> np.ndarray:
        ct = loads(answer, self.context)
        if not isinstance(ct, heedu.Ciphertext):
            raise TypeError(f"expected a ciphertext, got {type(ct).__name__}")
        print(f"    client: the answer is {ct!r}")
        return self.encoder.decode(self._decryptor.decrypt(ct))

    def try_to_leak_the_secret_key(self) -> None:
        try:
            dumps(self._keygen.secret_key(), self.context)
        except heedu.SecretKeyExposureError as error:
            print(f"    SecretKeyExposureError: {error}")


class Server:
    """Knows nothing secret. Rebuilds the context from bytes, computes x * x + b, answers in bytes."""

    def __init__(self, parameters: bytes, public_key: bytes, relin_keys: bytes) -> None:
        params = loads(parameters)
        if not isinstance(params, heedu.CKKSParameters):
            raise TypeError("the first message must hold parameters")
        # The server rebuilds the context from the parameters alone, and the security check runs
        # again on its side: a client cannot talk it into toy parameters without allow_insecure.
        self.context = heedu.CKKSContext(params)
        self.public_key = loads(public_key, self.context)
        self.relin_keys = loads(relin_keys, self.context)
        if not isinstance(self.public_key, heedu.PublicKey) or not isinstance(self.relin_keys, heedu.RelinKeys):
            raise TypeError("expected a public key and relinearization keys")
        self.evaluator = heedu.Evaluator(self.context)
        self.encoder = heedu.CKKSEncoder(self.context)

    def compute(self, query: bytes, offset: np.ndarray) -> tuple[bytes, bytes]:
        """Return the answer x * x + offset, and (for the size comparison) the server's own ciphertext."""
        ev = self.evaluator
        x = loads(query, self.context)
        if not isinstance(x, heedu.Ciphertext) or x.size != 2 or x.level != self.context.max_level:
            raise ValueError("the query must be a fresh ciphertext")
        print(f"    server: received {x!r}")
        # The server encrypts its own term with the client's public key: anyone can encrypt,
        # only the client can decrypt. Public-key ciphertexts are not seeded (full size).
        own = heedu.Encryptor(self.context, self.public_key).encrypt(self.encoder.encode(offset))
        squared = ev.rescale_to_next(ev.relinearize(ev.multiply(x, x), self.relin_keys))
        own = ev.rescale_to_next(ev.multiply_plain(own, self.encoder.encode_constant(1.0)))
        answer = ev.add(squared, own)
        print(f"    server: answer at level {answer.level}, log2(scale) {math.log2(answer.scale):.4f}")
        # Drop the primes the client does not need to decrypt: a level-0 answer is smaller.
        answer = ev.mod_switch_to(answer, 0)
        return dumps(answer, self.context), dumps(own, self.context)


def main() -> None:
    print("05 serialization: client and server exchange bytes\n")
    print("1. The client makes its keys (the secret key stays here)")
    client = step("client: context and secret key", Client)

    print("\n2. Client -> server: parameters and public keys")
    parameters = step("dumps(parameters)", client.parameters)
    public_key = step("dumps(public key)", client.public_key)
    relin_keys = step("dumps(relinearization keys)", client.relin_keys)
    print(f"    parameters          {size(parameters)}")
    print(f"    public key          {size(public_key)}  (seeded: (b, a) stored as b + a 32-byte seed)")
    print(f"    relinearization keys{size(relin_keys)}  (seeded too)")
    server = step("server: loads them and rebuilds the context", lambda: Server(parameters, public_key, relin_keys))

    print("\n3. Client -> server: an encrypted query")
    x = np.random.default_rng(5).uniform(-1, 1, client.context.slot_count)
    query = step("client: encrypt_symmetric + dumps", lambda: client.encrypt(x))
    print(f"    query ciphertext    {size(query)}  (seeded, level 2)")

    print("\n4. The server computes x * x + b, with b its own vector encrypted under the client's public key")
    b = np.linspace(-0.5, 0.5, client.context.slot_count)
    answer, own = step("server: loads, computes, dumps", lambda: server.compute(query, b))
    print(f"    server's own ct     {size(own)}  (public-key encryption, not seeded, rescaled to level 1)")
    print(f"    answer              {size(answer)}  (mod-switched to level 0: one prime left)")
    fresh_unseeded = dumps(heedu.Encryptor(client.context, loads(public_key, client.context)).encrypt(
        client.encoder.encode(x)), client.context)
    print(f"    for comparison, a fresh public-key ciphertext at level 2: {size(fresh_unseeded)}, "
          f"{len(fresh_unseeded) / len(query):.2f}x the seeded query")

    print("\n5. Server -> client: the answer; only the client can decrypt it")
    result = step("client: loads + decrypt + decode", lambda: client.decrypt(answer))
    error = float(np.max(np.abs(result - (x * x + b))))
    print(f"    first values {np.round(result[:3], 5)}, expected {np.round((x * x + b)[:3], 5)}; "
          f"max |error| {error:.1e}")
    if error > 1e-5:
        raise SystemExit("the answer is wrong")

    print("\n6. What does not travel")
    client.try_to_leak_the_secret_key()
    print("    (dumps(..., allow_secret_key=True) exists for the owner's own backups, never for the wire.)")
    other = heedu.CKKSContext(heedu.CKKSParameters(poly_modulus_degree=8192, coeff_modulus_bits=[60, 40, 60]))
    try:
        loads(query, other)
    except heedu.ContextMismatchError as error:
        print(f"    ContextMismatchError: {error}")
    try:
        loads(query[:-100], client.context)
    except heedu.SerializationError as error:
        print(f"    SerializationError (truncated): {error}")
    print("\nDone: parameters, keys and ciphertexts crossed as bytes; the secret key stayed home.")


if __name__ == "__main__":
    main()
