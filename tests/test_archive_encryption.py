"""Archives at rest: no buyer value in clear, key rotation, and a clear error for every way decryption can fail."""

from __future__ import annotations

import base64
import json
import os
import re
import struct
import zipfile
from datetime import datetime, timezone
from pathlib import Path
from xml.sax.saxutils import escape

import pytest

from amazon_sage.cli.archives import main as archives_cli
from amazon_sage.core.archive.encryption import (
    MAGIC,
    TAG,
    ArchiveDecryptionError,
    ArchiveKeyError,
    ArchiveKeyring,
    decrypt_file,
    decrypt_stream,
    encrypt_file,
    new_key_entry,
    sealed_key_id,
)
from amazon_sage.core.archive.run_archive import archive_run, restore_archive
from amazon_sage.core.archive.stores import ArchiveError, LocalArchiveStore
from amazon_sage.core.files import private_dir
from amazon_sage.hooks.archive_destination import archive_keyring
from sandbox.airflow_env import archive_key_connection
from tests.helpers import archived_zip, mapped_orders

DAG = "amazon_orders_to_sage"
T0 = datetime(2026, 11, 26, 10, 15, tzinfo=timezone.utc)
OLD, NEW = new_key_entry("2026-01"), new_key_entry("2026-12")
CHUNK = 4096  # small chunks, so that a few KiB make many of them


def keyring(*entries: str) -> ArchiveKeyring:
    return ArchiveKeyring.parse(",".join(entries), "the test's keys")


def sealed(tmp_path: Path, data: bytes, keys: ArchiveKeyring, chunk: int = CHUNK) -> Path:
    plain = tmp_path / "plain.bin"
    plain.write_bytes(data)
    target = tmp_path / "sealed.zip.enc"
    encrypt_file(plain, target, keys, chunk_size=chunk)
    return target


def opened(path: Path, keys: ArchiveKeyring) -> bytes:
    out = bytearray()
    decrypt_stream(path, keys, out.extend)
    return bytes(out)


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 17])
def test_every_size_round_trips_in_authenticated_chunks(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    path = sealed(tmp_path, data, keyring(NEW))
    chunks = max(1, -(-size // CHUNK))
    header = len(MAGIC) + 2 + len("2026-12") + 4 + 32 + 7 + 32
    assert path.stat().st_size == header + size + chunks * TAG  # one tag per chunk, nothing else
    assert opened(path, keyring(NEW)) == data


def test_two_archives_of_the_same_bytes_share_nothing(tmp_path: Path) -> None:
    data = b"the same run folder" * 500
    first = sealed(tmp_path, data, keyring(NEW)).read_bytes()
    second = sealed(tmp_path, data, keyring(NEW)).read_bytes()
    header = len(MAGIC) + 2 + len("2026-12") + 4
    assert first[:header] == second[:header]  # format, key id and chunk size only
    assert first[header:header + 39] != second[header:header + 39]  # a fresh salt and nonce prefix each
    assert first[-TAG:] != second[-TAG:]


def test_a_rotated_key_writes_new_archives_and_old_ones_still_open(tmp_path: Path) -> None:
    store = LocalArchiveStore(tmp_path / "archive")
    before, _ = archive_run(_run(tmp_path, "before"), store, keys=keyring(OLD), dag_id=DAG, run_id="before",
                            run_started=T0)
    rotated = keyring(NEW, OLD)  # the new key first, the old one kept after it
    after, manifest = archive_run(_run(tmp_path, "after"), store, keys=rotated, dag_id=DAG, run_id="after",
                                  run_started=T0)
    assert sealed_key_id(Path(before)) == "2026-01" and sealed_key_id(Path(after)) == "2026-12"
    assert manifest["key_id"] == "2026-12"
    for uri, run in ((before, "before"), (after, "after")):
        target = restore_archive(store, DAG, Path(uri).name, tmp_path / f"restored-{run}", rotated)
        assert f"202-{run}" in (target / "amazon_orders.xml").read_text()
    with pytest.raises(ArchiveError, match=r"encrypted with key '2026-01', which the test's keys does not hold "
                                           r"\(it holds '2026-12'\)\. Put key '2026-01' back"):
        restore_archive(store, DAG, Path(before).name, tmp_path / "nothing", keyring(NEW))
    assert not (tmp_path / "nothing").exists()


def test_a_wrong_key_under_the_right_id_is_named_as_such(tmp_path: Path) -> None:
    path = sealed(tmp_path, b"x" * 10_000, keyring(NEW))
    impostor = new_key_entry("2026-12")
    with pytest.raises(ArchiveDecryptionError, match=r"does not decrypt with key '2026-12' of the test's keys: that "
                                                     r"key is not the one the archive was written with"):
        opened(path, keyring(impostor))


def test_an_altered_byte_anywhere_fails_and_leaves_no_plaintext(tmp_path: Path) -> None:
    data = os.urandom(5 * CHUNK)
    path = sealed(tmp_path, data, keyring(NEW))
    original = path.read_bytes()
    header = len(original) - len(data) - 5 * TAG
    for offset, pattern in ((header + 10, r"fails authentication at chunk 1"),
                            (header + 3 * (CHUNK + TAG) + 5, r"fails authentication at chunk 4"),
                            (len(original) - 1, r"fails authentication at chunk 5"),
                            (len(MAGIC) + 2 + 7, r"damaged header|does not decrypt with key|fails authentication"),
                            (header - 40, r"does not decrypt with key")):  # the salt: another derived key
        altered = bytearray(original)
        altered[offset] ^= 0x01
        path.write_bytes(bytes(altered))
        target = tmp_path / "out.zip"
        with pytest.raises(ArchiveDecryptionError, match=pattern):
            decrypt_file(path, target, keyring(NEW))
        assert not target.exists()  # all or nothing: chunks before the bad one are not left behind


def test_a_key_id_changed_in_the_header_fails(tmp_path: Path) -> None:
    keys = keyring(NEW, new_key_entry("2026-13"))  # a second key whose id has the same length
    path = sealed(tmp_path, b"y" * 9000, keys)
    path.write_bytes(path.read_bytes().replace(b"2026-12", b"2026-13", 1))
    with pytest.raises(ArchiveDecryptionError, match="does not decrypt with key '2026-13'"):
        opened(path, keys)


@pytest.mark.parametrize("cut, pattern", [
    ("chunk boundary", r"is cut short: it ends after chunk 2 of a longer archive"),
    ("mid chunk", r"fails authentication at chunk 3: the file was altered or cut short"),
    ("after header", r"is cut short: it ends after its header"),
    ("inside header", r"ends inside its header: it is cut short"),
])
def test_a_truncated_archive_is_detected(tmp_path: Path, cut: str, pattern: str) -> None:
    data = os.urandom(4 * CHUNK)
    path = sealed(tmp_path, data, keyring(NEW))
    whole = path.read_bytes()
    header = len(whole) - len(data) - 4 * TAG
    keep = {"chunk boundary": header + 2 * (CHUNK + TAG), "mid chunk": header + 2 * (CHUNK + TAG) + 100,
            "after header": header, "inside header": 20}[cut]
    path.write_bytes(whole[:keep])
    with pytest.raises(ArchiveDecryptionError, match=pattern):
        opened(path, keyring(NEW))


def test_appended_bytes_fail(tmp_path: Path) -> None:
    path = sealed(tmp_path, os.urandom(2 * CHUNK), keyring(NEW))
    path.write_bytes(path.read_bytes() + b"\0" * (CHUNK + TAG))
    with pytest.raises(ArchiveDecryptionError, match="fails authentication at chunk"):
        opened(path, keyring(NEW))


def test_a_file_that_is_not_an_archive_is_named(tmp_path: Path) -> None:
    path = tmp_path / "x.zip.enc"
    path.write_bytes(b"GIF89a" + b"\0" * 200)
    with pytest.raises(ArchiveDecryptionError, match="is not an encrypted archive of this product"):
        opened(path, keyring(NEW))
    path.write_bytes(MAGIC + bytes([9]) + b"\0" * 100)
    with pytest.raises(ArchiveDecryptionError, match="format 9, which this version of the product does not read"):
        opened(path, keyring(NEW))


@pytest.mark.parametrize("text, pattern", [
    ("", "holds no key"),
    ("just-a-key", r"Entry 1 of .* is not 'id:base64-key'"),
    ("k1:" + base64.b64encode(b"short").decode(), r"Key 'k1' \(entry 1\) of .* is not 32 bytes"),
    ("k1:not-base64!", r"Key 'k1' \(entry 1\) of .* is not 32 bytes in base64"),
    (f"{NEW} other", r"Entry 2 of .* is not 'id:base64-key'"),
    (f"{NEW},{NEW}", "listed twice"),
    ("bad id!:" + base64.b64encode(bytes(32)).decode(), "Entry 1"),
], ids=["empty", "no-id", "short", "not-base64", "space-separated", "twice", "bad-id"])  # never the key itself
def test_a_malformed_key_connection_says_what_is_wrong_without_showing_keys(text: str, pattern: str) -> None:
    with pytest.raises(ArchiveKeyError, match=pattern) as error:
        ArchiveKeyring.parse(text, "connection 'amazon_sage_archive_key'")
    assert NEW.partition(":")[2] not in str(error.value)


def test_the_key_connection_is_read_through_airflow(monkeypatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_AMAZON_SAGE_ARCHIVE_KEY", archive_key_connection(f"{NEW}, {OLD}"))
    keys = archive_keyring()
    assert keys.current_id == "2026-12" and list(keys.keys) == ["2026-12", "2026-01"]
    assert keys.source == "connection 'amazon_sage_archive_key'"
    urlsafe = NEW.replace("+", "-").replace("/", "_")  # either base64 alphabet
    assert ArchiveKeyring.parse(urlsafe, "x").keys["2026-12"] == keys.keys["2026-12"]
    monkeypatch.delenv("AIRFLOW_CONN_AMAZON_SAGE_ARCHIVE_KEY")
    with pytest.raises(ArchiveKeyError, match=r"The archive key connection 'amazon_sage_archive_key' is not set.*"
                                              r"new-key <id> makes one"):
        archive_keyring()


def test_without_a_key_nothing_is_archived_and_the_files_stay(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_AMAZON_SAGE_ARCHIVE_KEY", raising=False)
    folder = _run(tmp_path, "keyless")
    store = LocalArchiveStore(tmp_path / "archive")
    with pytest.raises(ArchiveError, match="archive key connection 'amazon_sage_archive_key' is not set"):
        archive_run(folder, store, keys=archive_keyring, dag_id=DAG, run_id="keyless", run_started=T0)
    assert (folder / "amazon_orders.xml").is_file() and store.list(DAG) == []


def test_the_cli_decrypts_and_fails_clearly(tmp_path: Path, monkeypatch, capsys) -> None:
    root = tmp_path / "archive"
    uri, _ = archive_run(_run(tmp_path, "cli"), LocalArchiveStore(root), keys=keyring(OLD), dag_id=DAG,
                         run_id="cli", run_started=T0)
    name = Path(uri).name
    monkeypatch.setenv("AIRFLOW_CONN_AMAZON_SAGE_ARCHIVE_KEY", archive_key_connection(f"{NEW},{OLD}"))
    assert archives_cli(["--destination", str(root), "restore", DAG, name, str(tmp_path / "ok")]) == 0
    assert "202-cli" in (tmp_path / "ok" / "amazon_orders.xml").read_text()
    capsys.readouterr()
    monkeypatch.setenv("AIRFLOW_CONN_AMAZON_SAGE_ARCHIVE_KEY", archive_key_connection(NEW))
    assert archives_cli(["--destination", str(root), "restore", DAG, name, str(tmp_path / "no")]) == 2
    assert "is encrypted with key '2026-01'" in capsys.readouterr().err and not (tmp_path / "no").exists()
    monkeypatch.delenv("AIRFLOW_CONN_AMAZON_SAGE_ARCHIVE_KEY")
    assert archives_cli(["--destination", str(root), "list"]) == 0  # the manifests need no key
    assert json.loads(capsys.readouterr().out)["archive"] == uri
    assert archives_cli(["--destination", str(root), "restore", DAG, name, str(tmp_path / "no")]) == 2
    assert "error: The archive key connection 'amazon_sage_archive_key' is not set" in capsys.readouterr().err
    assert archives_cli(["--destination", str(root), "restore", DAG, "20200101T000000Z_x.zip.enc", "/tmp/n"]) == 2
    assert "There is no archive 20200101T000000Z_x.zip.enc" in capsys.readouterr().err
    assert archives_cli(["new-key", "2027-01"]) == 0
    entry = capsys.readouterr().out.strip()
    assert re.fullmatch(r"2027-01:[A-Za-z0-9+/]{43}=", entry) and keyring(entry).current_id == "2027-01"


def test_archives_written_before_encryption_still_list_find_and_restore(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    legacy = private_dir(root / DAG) / "20261001T000000Z_amazon_orders_to_sage_old.zip"
    with zipfile.ZipFile(legacy, "w") as zipped:
        zipped.writestr("amazon_orders.xml", "<Orders><Order><orderId>202-0000000-0000009</orderId></Order></Orders>")
        zipped.writestr("manifest.json", json.dumps({"records": ["202-0000000-0000009"]}))
    store = LocalArchiveStore(root)
    assert [a.name for a in store.list(DAG)] == [legacy.name]
    target = restore_archive(store, DAG, legacy.name, tmp_path / "legacy", keyring(NEW))
    assert "202-0000000-0000009" in (target / "amazon_orders.xml").read_text()


def test_no_buyer_value_is_in_clear_in_an_orders_archive(tmp_path: Path, product_env) -> None:
    """A byte scan of the archive, and of the manifest beside it, for every name, e-mail and phone of the sandbox."""
    zynk, orders = mapped_orders(private_dir(tmp_path / "work" / DAG / "pii"), count=40)
    (zynk.parent / "zynk_orders_success.xml").write_bytes(zynk.read_bytes())  # as if all were imported
    buyer_values = set()
    for order in orders:
        buyer_values.update(escape(v) for v in (order.get("buyer") or {}).values())
        address = (order.get("recipient") or {}).get("deliveryAddress") or {}
        buyer_values.update(escape(address[k]) for k in ("name", "phone", "addressLine1", "addressLine2")
                            if k in address)
    assert len(buyer_values) > 80  # the scan looks for something real
    folder_bytes = b"".join(p.read_bytes() for p in zynk.parent.iterdir())
    assert all(value.encode() in folder_bytes for value in buyer_values)  # the run's files do hold them
    uri, manifest = archive_run(zynk.parent, LocalArchiveStore(tmp_path / "archive"), keys=keyring(NEW),
                                dag_id=DAG, run_id="pii", run_started=T0)
    sidecar = Path(uri.removesuffix(".zip.enc") + ".manifest.json").read_bytes()
    for stored in (Path(uri).read_bytes(), sidecar):
        found = [v for v in buyer_values if v.encode() in stored or v.encode("utf-16-le") in stored]
        assert found == []
    with archived_zip(Path(uri), keyring(NEW)) as inside:  # and yet every value is in there, encrypted
        unpacked = b"".join(inside.read(name) for name in inside.namelist())
    assert all(value.encode() in unpacked for value in buyer_values)
    # The manifest still serves the books: every order, SKU and amount, in clear.
    booked = {o["order_id"]: o for o in manifest["orders"]}
    assert set(booked) == {o["orderId"] for o in orders} == set(manifest["order_dates"])
    for order in orders:
        assert [line["sku"] for line in booked[order["orderId"]]["lines"]] == [
            i["product"]["sellerSku"] for i in order["orderItems"]]
        assert manifest["order_dates"][order["orderId"]]["purchased"] == order["createdTime"]
        if order.get("proceeds"):
            assert booked[order["orderId"]]["paid"] == order["proceeds"]["grandTotal"]["amount"]


def _run(tmp_path: Path, run_id: str) -> Path:
    folder = private_dir(tmp_path / "work" / DAG / run_id)
    (folder / "amazon_orders.xml").write_text(f"<Orders><Order><orderId>202-{run_id}</orderId></Order></Orders>")
    return folder


def test_the_header_layout_is_as_documented(tmp_path: Path) -> None:
    path = sealed(tmp_path, b"z", keyring(NEW), chunk=CHUNK)
    raw = path.read_bytes()
    magic, version, id_length = struct.unpack(">8sBB", raw[:10])
    assert (magic, version, id_length) == (MAGIC, 1, 7) and raw[10:17] == b"2026-12"
    assert struct.unpack(">I", raw[17:21]) == (CHUNK,)
