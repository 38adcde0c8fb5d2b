"""Encryption of secrets at rest (Fernet / MultiFernet).

Keys come from `PARKWAY_ENCRYPTION_KEYS`: the first encrypts, every key
decrypts, so a new key can be put first and old tokens still read until
`manage.py rotate_encryption_keys` has re-encrypted them.
"""

from __future__ import annotations

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.db import models
from django.dispatch import receiver


class DecryptionError(Exception):
    """A stored secret could not be decrypted with any configured key."""


@lru_cache(maxsize=1)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except ValueError as exc:
        # Never echo the key itself.
        raise ImproperlyConfigured(
            "PARKWAY_ENCRYPTION_KEYS holds a value that is not a Fernet key "
            "(32 url-safe base64-encoded bytes)."
        ) from exc


def fernet() -> MultiFernet:
    keys = tuple(k.strip() for k in settings.PARKWAY_ENCRYPTION_KEYS if k.strip())
    if not keys:
        raise ImproperlyConfigured("PARKWAY_ENCRYPTION_KEYS is empty: secrets cannot be encrypted or read.")
    return _fernet(keys)


@receiver(setting_changed)
def _forget_keys(*, setting: str, **kwargs: object) -> None:
    if setting == "PARKWAY_ENCRYPTION_KEYS":
        _fernet.cache_clear()


def encrypt(plaintext: str) -> str:
    return fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise DecryptionError("A stored secret cannot be decrypted with the configured keys.") from exc


def rotate(token: str) -> str:
    """Re-encrypt a token with the first key (MultiFernet.rotate)."""
    try:
        return fernet().rotate(token.encode()).decode()
    except InvalidToken as exc:
        raise DecryptionError("A stored secret cannot be decrypted with the configured keys.") from exc


class EncryptedTextField(models.TextField):
    """Text stored as a Fernet token; Python code only ever sees plaintext.

    The empty string stays empty (a destroyed secret), so it needs no key.
    """

    description = "Text encrypted at rest"

    def from_db_value(self, value: str | None, expression: object, connection: object) -> str | None:
        if not value:
            return value
        return decrypt(value)

    def get_prep_value(self, value: object) -> str | None:
        value = super().get_prep_value(value)
        if not value:
            return value
        return encrypt(value)
