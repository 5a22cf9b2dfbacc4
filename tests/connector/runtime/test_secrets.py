"""Secrets at rest: encryption, rotation with several keys, and re-encryption of stored values."""

import pytest
from cryptography.fernet import Fernet

from connector.runtime.redis_store import RedisStore
from connector.runtime.secrets import (
    SecretBox,
    SecretError,
    parse_keys,
    remember_encrypted_field,
    rotate_all,
)


def test_encrypted_value_is_not_the_plaintext_and_round_trips():
    box = SecretBox([Fernet.generate_key().decode()])
    token = box.encrypt("mc_key_123")
    assert "mc_key_123" not in token
    assert box.decrypt(token) == "mc_key_123"


def test_old_tokens_decrypt_during_rotation_and_new_ones_use_the_newest_key():
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    token = SecretBox([old]).encrypt("value")
    rotating = SecretBox(parse_keys(f"{new}, {old}"))
    assert rotating.decrypt(token) == "value"
    assert SecretBox([new]).decrypt(rotating.encrypt("value")) == "value"
    with pytest.raises(SecretError):
        SecretBox([new]).decrypt(token)


def test_bad_key_setting_is_a_clear_error():
    with pytest.raises(ValueError, match="Fernet"):
        SecretBox(["not-a-key"])


def test_rotate_all_re_encrypts_every_indexed_secret(redis_url):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    store = RedisStore(redis_url, "t:")
    store.redis.hset("t:a", "tok", SecretBox([old]).encrypt("one"))
    store.redis.hset("t:b", "tok", SecretBox([old]).encrypt("two"))
    remember_encrypted_field(store, "t:a", "tok")
    remember_encrypted_field(store, "t:b", "tok")
    remember_encrypted_field(store, "t:gone", "tok")
    assert rotate_all(store, SecretBox([new, old])) == 2
    only_new = SecretBox([new])
    assert only_new.decrypt(store.redis.hget("t:a", "tok")) == "one"
    assert only_new.decrypt(store.redis.hget("t:b", "tok")) == "two"
