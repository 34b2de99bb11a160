#!/usr/bin/env python3
"""An independent implementation of docs/FORMAT.md, written from the document alone.

Recomputes the header, every intermediate value of the key schedule (normalised
passphrase, Argon2id output, IKM, PRK, keys), the download token, verifier, metadata JSON,
block and sealing, the chunk nonces and the payload of every known-answer vector in
common/tests/vectors/ with Python's `cryptography` and `argon2-cffi`, compares them byte for
byte, and decrypts them again. It also parses headers and metadata blocks as a reader must
(docs/FORMAT.md sections 2 and 4) and checks that every header in
common/tests/vectors/refused/below-floor.json is refused for asking less than the KDF floor
and every block in common/tests/vectors/refused/metadata.json is refused, and does the same
for manifests of several files (section 4.1): the vector several-files.json and the refused
manifests of common/tests/vectors/refused/manifest.json. Exit status 0 only if all agree.
"""
import glob
import hashlib
import json
import os
import struct
import sys
import unicodedata

from argon2.low_level import Type, hash_secret_raw
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand
import hmac

VECTORS = os.path.join(os.path.dirname(__file__), "..", "..", "common", "tests", "vectors")
REFUSED = os.path.join(VECTORS, "refused")

# docs/FORMAT.md section 2: caps (a hostile header must not exhaust the reader) and the
# floor (a hostile header must not make the passphrase cheap to guess).
M_COST_MAX, T_COST_MAX, P_COST_MAX = 262144, 16, 4
M_COST_MIN, T_COST_MIN = 19456, 2


class Refused(Exception):
    """A header a reader must refuse; the message says why."""


def parse_header(h):
    """The checks a reader makes before deriving anything; returns (m, t, p)."""
    if len(h) != 40 or h[:5] != b"ferry":
        raise Refused("not a header")
    if h[5] != 1 or h[6] & ~0x01 or h[7] != 1:
        raise Refused("unknown version, flags or kdf")
    m, t, p, cs = struct.unpack(">III", h[8:20]) + struct.unpack(">I", h[36:40])
    if m > M_COST_MAX or t > T_COST_MAX or p > P_COST_MAX:
        raise Refused("excessive work")
    if t < 1 or p < 1 or m < 8 * p:
        raise Refused("parameters Argon2 rejects")
    if m < M_COST_MIN:
        raise Refused("memory")
    if t < T_COST_MIN:
        raise Refused("iterations")
    if cs == 0 or cs > 16777216:
        raise Refused("chunk size")
    return m, t, p


def header_bytes(v):
    flags = 0x01 if v["link_secret"] is None else 0x00
    return (b"ferry" + bytes([1, flags, 1]) + struct.pack(">III", v["m_cost"], v["t_cost"], v["p_cost"])
            + bytes.fromhex(v["salt"]) + struct.pack(">I", v["chunk_size"]))


def schedule(v, h):
    """Section 3 step by step: the intermediate values, then the three outputs."""
    p = unicodedata.normalize("NFC", v["passphrase"]).encode()
    a = hash_secret_raw(p, bytes.fromhex(v["salt"]), time_cost=v["t_cost"], memory_cost=v["m_cost"],
                        parallelism=v["p_cost"], hash_len=32, type=Type.ID, version=19)
    ikm = a + (bytes.fromhex(v["link_secret"]) if v["link_secret"] else b"")
    prk = hmac.new(h, ikm, hashlib.sha256).digest()  # HKDF-Extract(salt=H, IKM)
    expand = lambda label: HKDFExpand(hashes.SHA256(), 32, label).derive(prk)
    keys = expand(b"ferry/v1/payload"), expand(b"ferry/v1/metadata"), expand(b"ferry/v1/download-token")
    return {"passphrase_bytes": p, "argon2": a, "ikm": ikm, "prk": prk}, keys


def keys(v, h):
    return schedule(v, h)[1]


def read_block(block):
    """The metadata checks of section 4 on an opened block; returns the JSON object."""
    if len(block) < 4 or len(block) % 256 != 0:
        raise Refused("block length not a multiple of 256")
    (jlen,) = struct.unpack(">I", block[:4])
    if 4 + jlen > len(block):
        raise Refused("JSON length beyond the block")
    if any(block[4 + jlen:]):
        raise Refused("non-zero padding")
    return json.loads(block[4:4 + jlen])


# docs/FORMAT.md section 4.1: limits of a manifest.
MAX_ENTRIES, MAX_PATH_BYTES, MAX_DEPTH = 10000, 1024, 32


def read_manifest(meta):
    """The reader's checks of section 4.1 on an opened manifest; returns it."""
    if meta.get("v") != 2 or not isinstance(meta.get("files"), list):
        raise Refused("not a version 2 manifest")
    paths = [f["path"] for f in meta["files"]] + list(meta.get("dirs", []))
    if not paths or len(paths) > MAX_ENTRIES:
        raise Refused("entry count outside 1..10000")
    for p in paths:
        parts = p.split("/")
        if len(p.encode()) > MAX_PATH_BYTES or len(parts) > MAX_DEPTH:
            raise Refused("path too long or too deep")
        if any(c in ("", ".", "..") for c in parts):
            raise Refused("not a plain relative path")
    if sum(f["size"] for f in meta["files"]) != meta["size"]:
        raise Refused("sizes do not add up")
    return meta


def metadata_json(v, size):
    """The metadata JSON a reference writer produces for a vector (section 4 or 4.1)."""
    m = v.get("manifest")
    if m is None:
        obj = {"name": v["file_name"], "size": size, "type": v["media_type"]}
    else:
        files = [{"path": f["path"], "size": f["size"], **({"mtime": f["mtime"]} if f.get("mtime") is not None else {})}
                 for f in m["files"]]
        obj = {"v": 2, "size": size, "files": files, "dirs": m["dirs"]}
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def nonce(i, last):
    return i.to_bytes(11, "big") + bytes([1 if last else 0])


def check(path):
    v = json.load(open(path, encoding="utf-8"))
    h = header_bytes(v)
    assert h.hex() == v["expected_header"], "header"
    parse_header(h)  # a vector's header is one a reader accepts
    steps, (payload_key, metadata_key, token) = schedule(v, h)
    for name, value in steps.items():
        assert value.hex() == v["expected_" + name], name
    assert payload_key.hex() == v["expected_payload_key"], "payload key"
    assert metadata_key.hex() == v["expected_metadata_key"], "metadata key"
    assert token.hex() == v["expected_download_token"], "token"
    assert hashlib.sha256(b"ferry/v1/token-verifier" + token).hexdigest() == v["expected_verifier"], "verifier"

    plain = bytes.fromhex(v["plaintext"])
    meta = metadata_json(v, len(plain))
    assert meta == v["expected_metadata_json"].encode(), "metadata JSON"
    block = struct.pack(">I", len(meta)) + meta
    block += bytes(-len(block) % 256)
    assert block.hex() == v["expected_metadata_block"], "metadata block"
    sealed_meta = AESGCM(metadata_key).encrypt(bytes(12), block, h)
    assert sealed_meta.hex() == v["expected_metadata"], "metadata"

    cs = v["chunk_size"]
    n = max(1, -(-len(plain) // cs))
    assert [nonce(i, i == n - 1).hex() for i in range(n)] == v["expected_nonces"], "nonces"
    payload = b"".join(AESGCM(payload_key).encrypt(nonce(i, i == n - 1), plain[i * cs:(i + 1) * cs], h)
                       for i in range(n))
    assert payload.hex() == v["expected_ciphertext"], "payload"

    # And decrypt what the reference implementation wrote, as a recipient would.
    stored = bytes.fromhex(v["expected_ciphertext"])
    units = [stored[i:i + cs + 16] for i in range(0, len(stored), cs + 16)]
    out = b"".join(AESGCM(payload_key).decrypt(nonce(i, i == len(units) - 1), u, h) for i, u in enumerate(units))
    block = AESGCM(metadata_key).decrypt(bytes(12), bytes.fromhex(v["expected_metadata"]), h)
    opened = read_block(block)
    assert opened["size"] == len(out) and out == plain, "decrypt"
    if "v" in opened:
        files = read_manifest(opened)["files"]
        assert [f["path"] for f in files] == [f["path"] for f in v["manifest"]["files"]], "manifest"
        parts, at = [], 0
        for f in files:
            parts.append(out[at:at + f["size"]])
            at += f["size"]
        assert b"".join(parts) == out and at == len(out), "files make up the payload"


def check_refused(case):
    """A below-floor header must be refused for the parameter the case names."""
    try:
        parse_header(bytes.fromhex(case["header"]))
    except Refused as e:
        assert str(e) == case["below"], f"refused for {e}, not {case['below']}"
        return
    raise AssertionError("accepted")


def check_refused_metadata(doc, manifest=False):
    """Blocks whose tag verifies but which a reader must refuse; yields (description, error)."""
    share = doc["share"]
    h = header_bytes(share)
    metadata_key = keys(share, h)[1]
    for case in doc["refused"]:
        block = AESGCM(metadata_key).decrypt(bytes(12), bytes.fromhex(case["sealed"]), h)
        try:
            assert block.hex() == case["block"], "block differs"
            meta = read_block(block)
            if manifest:
                read_manifest(meta)
            yield case["description"], "accepted"
        except Refused:
            yield case["description"], None
        except AssertionError as e:
            yield case["description"], str(e)


def main():
    paths = sorted(glob.glob(os.path.join(VECTORS, "*.json")))
    passed = failed = 0
    for p in paths:
        try:
            check(p)
            passed += 1
            print(f"ok   {os.path.basename(p)}")
        except (AssertionError, Refused) as e:
            failed += 1
            print(f"FAIL {os.path.basename(p)}: {e}")
    doc = json.load(open(os.path.join(REFUSED, "metadata.json"), encoding="utf-8"))
    for description, error in check_refused_metadata(doc):
        passed += error is None
        failed += error is not None
        print(f"{'ok  ' if error is None else 'FAIL'} refused metadata: {description}"
              + (f": {error}" if error else ""))
    doc = json.load(open(os.path.join(REFUSED, "manifest.json"), encoding="utf-8"))
    for description, error in check_refused_metadata(doc, manifest=True):
        passed += error is None
        failed += error is not None
        print(f"{'ok  ' if error is None else 'FAIL'} refused manifest: {description}"
              + (f": {error}" if error else ""))
    for p in [os.path.join(REFUSED, "below-floor.json")]:
        for case in json.load(open(p, encoding="utf-8"))["refused"]:
            try:
                check_refused(case)
                passed += 1
                print(f"ok   refused: {case['description']}")
            except AssertionError as e:
                failed += 1
                print(f"FAIL refused: {case['description']}: {e}")
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
