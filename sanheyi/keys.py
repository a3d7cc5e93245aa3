"""The exchange signing keys of an installation (created by ``sanheyi init``)."""

from __future__ import annotations

from exchange.changzhou.signing import KeyStore, generate_keys
from sanheyi.settings import Settings


def ensure_exchange_keys(settings: Settings) -> list[str]:
    """Create the key pair of the configured algorithm unless it exists; never replaces a key."""
    existed = KeyStore(settings.keys_dir).private_key_file.exists()
    store = generate_keys(settings.keys_dir, settings.exchange.signature_algorithm)
    if existed:
        return []
    return [f"created {store.algorithm} signing key {store.key_id}; public key at {store.public_key_file}"]
