"""tcpcrypt cryptography: key agreement, key schedule and frame AEAD (RFC 8548 §3, §5, §6).

Sans-IO: no sockets, no clock, and no randomness of its own (callers pass private key bytes or
a ``random_bytes`` callable). Imports only :mod:`tcpinc_tools.wire.constants` and
:mod:`tcpinc_tools.errors` from the rest of the package.

- :mod:`.kex`: ephemeral key pairs, public-key validation, the shared secret ES.
- :mod:`.schedule`: Extract / CPRF, ss[i], session IDs, mk[j], k_ab / k_ba, resume[i].
- :mod:`.aead`: sealing and opening whole encryption frames.
"""

from tcpinc_tools.crypto.aead import (
    FrameCipher,
    frame_nonce,
    legacy_frame_nonce,
    open_frame,
    resolve_aead,
    seal_frame,
    split_traffic_key,
    traffic_key_len,
)
from tcpinc_tools.crypto.kex import (
    KeyPair,
    PrivateKey,
    RandomBytes,
    check_shared_secret,
    generate_keypair,
    keypair_from_private_bytes,
    shared_secret,
    validate_public_key,
)
from tcpinc_tools.crypto.schedule import (
    Direction,
    SessionKeys,
    compute_ss0,
    cprf,
    derive_keys,
    extract,
    legacy_resume_id,
    next_ss,
    resume_id,
    session_nonce,
)

__all__ = [
    "Direction",
    "FrameCipher",
    "KeyPair",
    "PrivateKey",
    "RandomBytes",
    "SessionKeys",
    "check_shared_secret",
    "compute_ss0",
    "cprf",
    "derive_keys",
    "extract",
    "frame_nonce",
    "generate_keypair",
    "keypair_from_private_bytes",
    "legacy_frame_nonce",
    "legacy_resume_id",
    "next_ss",
    "open_frame",
    "resolve_aead",
    "resume_id",
    "seal_frame",
    "session_nonce",
    "shared_secret",
    "split_traffic_key",
    "traffic_key_len",
    "validate_public_key",
]
