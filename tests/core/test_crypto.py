"""FernetSealer, the imports' encrypter: the tokens cryptography's Fernet makes, byte for byte."""

import os

import pytest
from cryptography.fernet import Fernet, InvalidToken

from mike.core.crypto import FernetSealer


@pytest.mark.parametrize("length", range(0, 70))
def test_a_sealed_value_is_the_token_fernet_makes_for_the_same_time_and_iv(length):
    key = Fernet.generate_key()
    data, iv = os.urandom(length), os.urandom(16)
    # Fernet's own way to a token from given parts (encrypt draws the IV and reads the clock).
    assert FernetSealer(key.decode()).seal(data, 1_764_000_000, iv) == Fernet(
        key
    )._encrypt_from_parts(data, 1_764_000_000, iv)


def test_sealed_values_decrypt_with_fernet_and_each_has_its_own_iv():
    key = Fernet.generate_key()
    seal = FernetSealer(key.decode())
    tokens = [seal("ABCD-EFGH-1234") for _ in range(50)]
    assert {Fernet(key).decrypt(token.encode()) for token in tokens} == {b"ABCD-EFGH-1234"}
    assert len(set(tokens)) == 50
    with pytest.raises(InvalidToken):
        Fernet(Fernet.generate_key()).decrypt(tokens[0].encode())


def test_a_malformed_key_is_refused_as_fernet_refuses_it():
    with pytest.raises(ValueError, match="32 url-safe base64-encoded bytes"):
        FernetSealer("not a key")
