"""Archives encrypted at rest: AES-256-GCM in chunks (the STREAM construction), keys named by id.

A sealed archive is the run's zip, encrypted as one stream:

    header  = MAGIC (8) | version (1) | key id length (1) | key id (ASCII) | chunk size (4, big-endian)
              | salt (32) | nonce prefix (7) | key commitment (32)
    chunks  = AES-256-GCM(chunk) with its 16-byte tag, each ``chunk size`` bytes of the zip but the last

* **One key per archive.** The archive key (32 bytes from the key connection, see :class:`ArchiveKeyring`)
  never encrypts data itself: HKDF-SHA256 over it, the archive's random 32-byte salt and its key id gives
  the archive's own AES-256 key and a commitment to it, so no two archives share a GCM key and nonces
  can never repeat across archives, however many are written under one key.
* **Nonces** are the archive's random 7-byte prefix, the chunk's 32-bit counter and a last-chunk flag
  (as Google Tink's AES-GCM-HKDF streaming AEAD and Hoang et al.'s STREAM). Reordered, dropped or
  repeated chunks fail to authenticate, and so does a file cut after any chunk: the chunk read last
  was not written as the last one.
* **The header is the associated data of every chunk**, so its version, key id and chunk size cannot
  be changed either. The key commitment (as the AWS Encryption SDK's) tells a wrong key from an altered
  file before any chunk is decrypted.
* **Memory** is one chunk (1 MiB) whatever the archive's size; decryption writes to a file the
  caller discards if :class:`ArchiveDecryptionError` is raised, since chunks before a bad one did decrypt.

The primitives are the ``cryptography`` package's (OpenSSL): AESGCM, HKDF, SHA-256. Nothing here is a
cipher of its own; this module only frames them.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAGIC = b"AMZSAGE\x1a"  # \x1a: no text tool takes it for text; no zip starts so (PK\x03\x04)
VERSION = 1
CHUNK_SIZE = 1024 * 1024
TAG = 16
SALT = 32
NONCE_PREFIX = 7
COMMITMENT = 32
KEY_BYTES = 32
KEY_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_FIXED = struct.Struct(">8sBB")  # magic, version, key id length
_CHUNK_SIZE = struct.Struct(">I")
_INFO = b"amazon-sage archive v1\x00"

__all__ = ["ArchiveDecryptionError", "ArchiveKeyError", "ArchiveKeyring", "decrypt_file", "encrypt_file",
           "is_sealed", "new_key_entry", "sealed_key_id"]


class ArchiveKeyError(Exception):
    """The archive key connection is missing, malformed, or lacks the key an archive names."""


class ArchiveDecryptionError(Exception):
    """An archive does not decrypt: a wrong key, or a file that was altered or cut short."""


@dataclass(frozen=True)
class ArchiveKeyring:
    """The archive keys, by id; the first is the current one, that new archives are written with.

    Older keys stay listed after it so that archives written before a rotation still decrypt: each
    archive names its key id in its header.
    """

    keys: dict[str, bytes]
    source: str = "the archive key connection"

    @property
    def current_id(self) -> str:
        return next(iter(self.keys))

    def key(self, key_id: str, archive: str) -> bytes:
        try:
            return self.keys[key_id]
        except KeyError:
            raise ArchiveKeyError(
                f"{archive} is encrypted with key {key_id!r}, which {self.source} does not hold (it holds "
                f"{', '.join(map(repr, self.keys))}). Put key {key_id!r} back in it, after the current key: "
                "a rotated key must stay listed while archives written with it are kept.") from None

    @classmethod
    def parse(cls, text: str | None, source: str) -> ArchiveKeyring:
        """Keys from ``id:base64-key`` entries separated by commas or white space, the current key first.

        Messages name entries by position and id, never by value: key material stays out of logs.
        """
        keys: dict[str, bytes] = {}
        for position, entry in enumerate((text or "").replace(",", " ").split(), start=1):
            key_id, colon, encoded = entry.partition(":")
            if not colon or not KEY_ID.match(key_id):
                raise ArchiveKeyError(f"Entry {position} of {source} is not 'id:base64-key' with an id of letters, "
                                      "digits, '.', '_' or '-'. Make a key with: python -m amazon_sage.cli.archives "
                                      "new-key <id>")
            try:
                key = base64.b64decode(encoded.replace("-", "+").replace("_", "/"), validate=True)
            except (binascii.Error, ValueError):
                key = b""
            if len(key) != KEY_BYTES:
                raise ArchiveKeyError(f"Key {key_id!r} (entry {position}) of {source} is not {KEY_BYTES} bytes in "
                                      "base64. Make a key with: python -m amazon_sage.cli.archives new-key <id>")
            if key_id in keys:
                raise ArchiveKeyError(f"Key id {key_id!r} is listed twice in {source}: each key needs its own id.")
            keys[key_id] = key
        if not keys:
            raise ArchiveKeyError(f"{source} holds no key: set its password to 'id:base64-key' (python -m "
                                  "amazon_sage.cli.archives new-key <id> makes one).")
        return cls(keys, source)


def new_key_entry(key_id: str) -> str:
    """A new random key as a key connection entry, ``id:base64``."""
    if not KEY_ID.match(key_id):
        raise ArchiveKeyError(f"Key id {key_id!r}: use 1 to 64 letters, digits, '.', '_' or '-'.")
    return f"{key_id}:{base64.b64encode(os.urandom(KEY_BYTES)).decode()}"


def _derive(key: bytes, salt: bytes, key_id: str) -> tuple[bytes, bytes]:
    """The archive's own AES-256 key and the commitment to it, from the archive key and the archive's salt."""
    okm = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES + COMMITMENT, salt=salt,
               info=_INFO + key_id.encode()).derive(key)
    return okm[:KEY_BYTES], okm[KEY_BYTES:]


def _nonce(prefix: bytes, counter: int, last: bool) -> bytes:
    return prefix + struct.pack(">IB", counter, 1 if last else 0)


def is_sealed(path: Path) -> bool:
    """Whether ``path`` is an encrypted archive (rather than a plain zip from before encryption)."""
    with path.open("rb") as handle:
        return handle.read(len(MAGIC)) == MAGIC


@dataclass(frozen=True)
class _Header:
    raw: bytes
    key_id: str
    chunk_size: int
    salt: bytes
    prefix: bytes
    commitment: bytes


def _read_header(handle: BinaryIO, archive: str) -> _Header:
    def take(size: int) -> bytes:
        data = handle.read(size)
        if len(data) != size:
            raise ArchiveDecryptionError(f"{archive} ends inside its header: it is cut short (an incomplete copy "
                                         "or upload). Fetch it again from where it was stored.")
        return data

    fixed = take(_FIXED.size)
    magic, version, id_length = _FIXED.unpack(fixed)
    if magic != MAGIC:
        raise ArchiveDecryptionError(f"{archive} is not an encrypted archive of this product (its first bytes are "
                                     "neither an encrypted archive's nor a zip's).")
    if version != VERSION:
        raise ArchiveDecryptionError(f"{archive} is in encrypted-archive format {version}, which this version of "
                                     f"the product does not read (it reads format {VERSION}): upgrade the product.")
    key_id_raw = take(id_length)
    chunk_raw, salt, prefix, commitment = take(_CHUNK_SIZE.size), take(SALT), take(NONCE_PREFIX), take(COMMITMENT)
    (chunk_size,) = _CHUNK_SIZE.unpack(chunk_raw)
    key_id = key_id_raw.decode("ascii", "replace")
    if not KEY_ID.match(key_id) or not 0 < chunk_size <= 64 * CHUNK_SIZE:
        raise ArchiveDecryptionError(f"{archive} has a damaged header (key id or chunk size): it was altered.")
    return _Header(fixed + key_id_raw + chunk_raw + salt + prefix + commitment, key_id, chunk_size, salt, prefix,
                   commitment)


def sealed_key_id(path: Path) -> str:
    """The key id an encrypted archive names in its header."""
    with path.open("rb") as handle:
        return _read_header(handle, str(path)).key_id


def encrypt_file(source: Path, target: Path, keyring: ArchiveKeyring, *, chunk_size: int = CHUNK_SIZE) -> str:
    """Encrypt ``source`` into ``target`` (created 0600) with the keyring's current key; return the key id."""
    key_id = keyring.current_id
    salt, prefix = os.urandom(SALT), os.urandom(NONCE_PREFIX)
    data_key, commitment = _derive(keyring.keys[key_id], salt, key_id)
    raw_id = key_id.encode("ascii")
    header = (_FIXED.pack(MAGIC, VERSION, len(raw_id)) + raw_id + _CHUNK_SIZE.pack(chunk_size) + salt + prefix
              + commitment)
    aead = AESGCM(data_key)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with source.open("rb") as plain, os.fdopen(fd, "wb") as sealed:
        sealed.write(header)
        counter, chunk = 0, plain.read(chunk_size)
        while True:
            following = plain.read(chunk_size) if len(chunk) == chunk_size else b""
            last = not following
            sealed.write(aead.encrypt(_nonce(prefix, counter, last), chunk, header))
            if last:
                return key_id
            counter, chunk = counter + 1, following


def decrypt_stream(source: Path, keyring: ArchiveKeyring, write: Callable[[bytes], object], *,
                   archive: str | None = None) -> str:
    """Authenticate and decrypt ``source`` chunk by chunk into ``write``; return the key id it names.

    Raises :class:`ArchiveKeyError` when the keyring lacks the archive's key, and
    :class:`ArchiveDecryptionError` for a wrong key, an altered file or one cut short. ``write``
    may have received the chunks before a bad one: discard what it wrote when this raises.
    """
    archive = archive or str(source)
    with source.open("rb") as handle:
        header = _read_header(handle, archive)
        data_key, commitment = _derive(keyring.key(header.key_id, archive), header.salt, header.key_id)
        if not hmac.compare_digest(commitment, header.commitment):
            raise ArchiveDecryptionError(
                f"{archive} does not decrypt with key {header.key_id!r} of {keyring.source}: that key is not the one "
                f"the archive was written with. Put the original key {header.key_id!r} back (a new key needs a new "
                "id; the old one stays listed after it).")
        aead = AESGCM(data_key)
        sealed_chunk = header.chunk_size + TAG
        counter, chunk = 0, handle.read(sealed_chunk)
        while True:
            following = handle.read(sealed_chunk) if len(chunk) == sealed_chunk else b""
            last = not following
            try:
                write(aead.decrypt(_nonce(header.prefix, counter, last), chunk, header.raw))
            except InvalidTag:
                raise ArchiveDecryptionError(_why_not(aead, header, counter, chunk, last, archive)) from None
            if last:
                return header.key_id
            counter, chunk = counter + 1, following


def _why_not(aead: AESGCM, header: _Header, counter: int, chunk: bytes, last: bool, archive: str) -> str:
    """Why chunk ``counter`` failed to authenticate: the file was cut after a chunk, or it was altered."""
    if not chunk:
        return (f"{archive} is cut short: it ends after its header (an incomplete copy or upload). Fetch it again "
                "from where it was stored.")
    if last:
        try:
            aead.decrypt(_nonce(header.prefix, counter, False), chunk, header.raw)
            return (f"{archive} is cut short: it ends after chunk {counter + 1} of a longer archive (an incomplete "
                    "copy or upload). Fetch it again from where it was stored.")
        except InvalidTag:
            pass
    return (f"{archive} fails authentication at chunk {counter + 1}: the file was altered or cut short after it "
            "was written. Nothing of it is used; fetch it again from where it was stored, or from a backup.")


def decrypt_file(source: Path, target: Path, keyring: ArchiveKeyring, *, archive: str | None = None) -> str:
    """Decrypt ``source`` into ``target`` (0600), all or nothing: on any error ``target`` is removed."""
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as plain:
            return decrypt_stream(source, keyring, plain.write, archive=archive)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
