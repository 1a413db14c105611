"""SEAL 3.5 wire format: codecs, BLAKE2Xb PRNG and SEAL's samplers.

* :mod:`heedu.seal.blake2`: BLAKE2b (RFC 7693) vectorized in NumPy, BLAKE2Xb, SEAL's ``BlakePRNG``
* :mod:`heedu.seal.samplers`: SEAL 3.5's uniform (3.5.0-3.5.4 and 3.5.5+) and ternary samplers
* :mod:`heedu.seal.wire`: SEAL's object header and the Ciphertext / KSwitchKeys codecs
"""
