"""WeChat message signatures and safe-mode encryption (the documented WXBizMsgCrypt algorithm).

* ``signature`` = sha1 of the sorted, concatenated ``[token, timestamp, nonce]`` (URL verification
  and plain mode); ``msg_signature`` adds the ``Encrypt`` text to the list (safe mode).
* Safe mode: AES-256-CBC, key = base64(EncodingAESKey + "="), IV = the key's first 16 bytes;
  plaintext = 16 random bytes + the XML's length (4 bytes, network order) + XML + AppID, padded
  PKCS#7-style to a multiple of 32 bytes; the ciphertext travels base64-encoded.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct
from typing import Iterable, Optional, Tuple

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from bot.wechat.settings import aes_key_bytes

BLOCK = 32  # WeChat pads to 32 bytes, not AES's 16


class CryptoError(ValueError):
    """The ciphertext cannot be decrypted into a WeChat message."""


def sign(*parts: str) -> str:
    """sha1 hex of the lexicographically sorted parts, concatenated."""
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()


def signature_ok(expected: Optional[str], parts: Iterable[str]) -> bool:
    """Constant-time comparison of a received signature with the one computed from ``parts``."""
    if not expected:
        return False
    return hmac.compare_digest(sign(*parts).encode("ascii"), expected.strip().lower().encode("ascii", "replace"))


def pkcs7_pad(data: bytes, block: int = BLOCK) -> bytes:
    """``data`` padded PKCS#7-style to a multiple of ``block`` bytes (always 1 to ``block`` bytes added)."""
    n = block - len(data) % block
    return data + bytes([n]) * n


def pkcs7_unpad(data: bytes, block: int = BLOCK) -> bytes:
    """``data`` without its padding; CryptoError when the padding is not well-formed."""
    if not data or len(data) % 16:
        raise CryptoError("ciphertext length is not a multiple of the AES block")
    n = data[-1]
    if not 1 <= n <= block or data[-n:] != bytes([n]) * n:
        raise CryptoError("bad padding")
    return data[:-n]


class MessageCrypto:
    """Encrypts replies and decrypts messages of one Official Account."""

    def __init__(self, token: str, encoding_aes_key: str, app_id: str) -> None:
        self.token = token
        self.app_id = app_id
        self._key = aes_key_bytes(encoding_aes_key)
        self._iv = self._key[:16]

    def _cipher(self) -> Cipher:
        return Cipher(algorithms.AES(self._key), modes.CBC(self._iv))

    def encrypt(self, xml: str, random16: Optional[bytes] = None) -> str:
        """Base64 ciphertext of ``xml`` (``random16`` fixed only by tests)."""
        random16 = os.urandom(16) if random16 is None else random16
        if len(random16) != 16:
            raise ValueError("random16 must be 16 bytes")
        body = xml.encode("utf-8")
        plain = pkcs7_pad(random16 + struct.pack(">I", len(body)) + body + self.app_id.encode("utf-8"))
        enc = self._cipher().encryptor()
        return base64.b64encode(enc.update(plain) + enc.finalize()).decode("ascii")

    def decrypt(self, encrypted: str) -> Tuple[str, str]:
        """``(xml, app_id)`` of a base64 ciphertext; raise CryptoError when it is not well-formed."""
        try:
            raw = base64.b64decode(encrypted.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise CryptoError("Encrypt is not base64") from None
        if not raw or len(raw) % 16:
            raise CryptoError("ciphertext length is not a multiple of the AES block")
        dec = self._cipher().decryptor()
        plain = pkcs7_unpad(dec.update(raw) + dec.finalize())
        if len(plain) < 20:
            raise CryptoError("plaintext too short")
        (length,) = struct.unpack(">I", plain[16:20])
        if 20 + length > len(plain):
            raise CryptoError("length field exceeds the plaintext")
        try:
            xml = plain[20:20 + length].decode("utf-8")
            app_id = plain[20 + length:].decode("utf-8")
        except UnicodeDecodeError:
            raise CryptoError("plaintext is not UTF-8") from None
        return xml, app_id

    def msg_signature(self, timestamp: str, nonce: str, encrypted: str) -> str:
        """The safe-mode ``msg_signature`` of a ciphertext."""
        return sign(self.token, timestamp, nonce, encrypted)
