r"""What every message of heedu's inference protocols carries before its ciphertexts.

A query or answer starts with a fixed header: a 4-byte magic (what the message
is), the protocol version, flags, the plan's fingerprint (so a message for
another model or parameter set is refused), the client's key id (so a message
used with another client's keys is refused instead of decrypting to garbage),
and three counts (inputs, ciphertext groups, ciphertexts per group). Every
count is checked against the plan before a byte of the body is read.

The key id names a client: BLAKE2b-128 of its serialized public key. The
public key is derived from the secret key (:func:`derived_public_key`), so a
client restored from its secret key file keeps its id.

Examples
--------
>>> header = Envelope(b"HECQ", 3, 0, bytes(16), bytes(16), inputs=1, groups=1, per_group=2).to_bytes()
>>> read_envelope(header, b"HECQ", 3, bytes(16), "query").per_group
2
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

from ..errors import HeeduError
from ..keys import KeyGenerator, PublicKey, SecretKey
from ..params import CKKSContext
from ..sampling import SeededRandomSource

# magic, version, flags, reserved, plan fingerprint, key id, inputs, ciphertext groups, ciphertexts per group
HEADER = struct.Struct("<4sBBH16s16sIII")
#: A key bundle's header: magic, version, flags, reserved, plan fingerprint.
KEYS_HEADER = struct.Struct("<4sBBH16s")
#: What each magic means, for messages that name what they got instead of what they expected.
KINDS = {
    b"HEIQ": "a query of the slot protocol",
    b"HEIA": "an answer of the slot protocol",
    b"HEIK": "a key bundle of the slot protocol",
    b"HECQ": "a query",
    b"HECA": "an answer",
    b"HECK": "a public key bundle",
}
FLAG_SINGLE_INPUT = 1
#: At most this many inputs per query.
MAX_INPUTS = 100_000


class ProtocolError(HeeduError, ValueError):
    """A query, answer or key bundle does not belong to this plan or these keys, or is malformed."""


def key_id_of(public_key: bytes) -> bytes:
    """16 bytes naming a client: BLAKE2b-128 of its serialized public key. Queries and answers carry it."""
    return hashlib.blake2b(bytes(public_key), digest_size=16).digest()


def derived_public_key(context: CKKSContext, secret: SecretKey, label: bytes) -> PublicKey:
    """A public key that is a function of the secret key: its randomness comes from a PRF keyed by ``s``.

    The same secret key always gives the same public key, hence the same key id, in any process.
    The seed is BLAKE2b of a domain ``label`` and the secret's coefficients: nothing about ``s``
    can be learnt from it, and it is used for nothing else.
    """
    seed = hashlib.blake2b(label + secret.coefficients.tobytes(), digest_size=32).digest()
    return KeyGenerator(context, secret_key=secret, random_source=SeededRandomSource(seed)).public_key()


def describe_magic(magic: bytes) -> str:
    """What a message with this magic is, in words."""
    return KINDS.get(bytes(magic), f"not heedu data (magic {bytes(magic)!r})")


@dataclass(frozen=True)
class Envelope:
    """The header of a query or answer."""

    magic: bytes
    version: int
    flags: int
    fingerprint: bytes
    key_id: bytes
    inputs: int
    groups: int
    per_group: int

    def to_bytes(self) -> bytes:
        return HEADER.pack(
            self.magic, self.version, self.flags, 0, self.fingerprint, self.key_id,
            self.inputs, self.groups, self.per_group,
        )


def read_envelope(data: object, magic: bytes, version: int, fingerprint: bytes, what: str) -> Envelope:
    """The header of ``data``, checked: bytes, long enough, this magic, version and plan, sane flags.

    Raises
    ------
    ProtocolError
        Not bytes, shorter than the header, another kind of message, another version or plan,
        unknown flags, or an input count outside ``[1, MAX_INPUTS]``.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ProtocolError(f"the {what} must be bytes, got {type(data).__name__}")
    if len(data) < HEADER.size:
        raise ProtocolError(f"the {what} is {len(data)} bytes, shorter than its {HEADER.size}-byte header")
    got, got_version, flags, _, got_fingerprint, key_id, inputs, groups, per_group = HEADER.unpack_from(data)
    if got != magic:
        raise ProtocolError(f"expected {describe_magic(magic)}, got {describe_magic(got)}")
    if got_version != version:
        raise ProtocolError(f"the {what} has protocol version {got_version}; this heedu speaks {version}")
    if got_fingerprint != fingerprint:
        raise ProtocolError(f"the {what} was made for another model or parameter set (plan fingerprint differs)")
    if flags & ~FLAG_SINGLE_INPUT or (flags & FLAG_SINGLE_INPUT and inputs != 1):
        raise ProtocolError(f"the {what} has flags 0x{flags:02x} inconsistent with its {inputs} input(s)")
    if not 0 < inputs <= MAX_INPUTS:
        raise ProtocolError(f"the {what} declares {inputs} inputs; between 1 and {MAX_INPUTS} are allowed")
    return Envelope(got, got_version, flags, got_fingerprint, key_id, inputs, groups, per_group)


def key_bundle_header(magic: bytes, version: int, fingerprint: bytes) -> bytes:
    """The header a client's key bundle starts with."""
    return KEYS_HEADER.pack(magic, version, 0, 0, fingerprint)


def check_key_header(keys: bytes, magic: bytes, version: int, fingerprint: bytes) -> None:
    """Refuse a key bundle whose header is not ``magic`` and ``version`` for the plan ``fingerprint``.

    Raises
    ------
    ProtocolError
        Shorter than the header, another kind of message or version, flags set, or another plan.
    """
    if len(keys) < KEYS_HEADER.size:
        raise ProtocolError(f"a key bundle is at least {KEYS_HEADER.size} bytes; got {len(keys)}")
    got, got_version, flags, _, got_fingerprint = KEYS_HEADER.unpack_from(keys)
    if got != magic or got_version != version or flags:
        raise ProtocolError(f"expected {describe_magic(magic)} (version {version}), got {describe_magic(got)}")
    if got_fingerprint != fingerprint:
        raise ProtocolError("the key bundle was made for another model or parameter set (plan fingerprint differs)")
