"""Tamper-evident runs: a manifest per run, a hash chain over the store, Ed25519 signatures, reviewer sign-offs.

- **Manifest** (``manifest.json`` in each run directory, written with the run before it becomes visible): the
  sha256 of every file of the run (``result.json``, ``predictions.parquet``, ``arrays/*.npz``). Its own hash,
  the *manifest hash*, is the sha256 of its canonical JSON (sorted keys, no spaces) and identifies the run's
  content. ``signature.json`` is the only file a run may gain later (a signature covers the manifest hash).
- **Hash chain** (table ``chain`` of the store's SQLite index, append-only): one entry per stored run (its
  manifest hash) and per reviewer sign-off (the hash of its record). Entry ``k`` stores
  ``chain_hash_k = sha256(chain_hash_{k-1} | kind | run_id | entry_hash | recorded_at)``, with 64 zeros
  before the first entry, so changing, removing or reordering any entry breaks every later link.
- **Signatures** (``deepaudit sign RUN --key FILE``): Ed25519 over the manifest hash (its 64 hex characters,
  ASCII), stored with the public key in ``signature.json``; ``verify --public-key FILE`` checks it against a
  key the verifier trusts.
- **Sign-offs** (``deepaudit signoff`` or the dashboard, authenticated users only): a reviewer's decision
  (``accepted``, ``accepted_with_conditions``, ``rejected``), conditions and comment against a run, stored
  only as chain entries, so they are append-only and covered by the chain.

:func:`verify_store` recomputes all of it and lists every difference; it reads files and hashes them, never
imports or executes anything a run names.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"
SIGNATURE = "signature.json"
#: Files a run may hold that the manifest does not list (itself, and a signature added after the run).
UNLISTED = {MANIFEST, SIGNATURE}
GENESIS = "0" * 64
DECISIONS = ("accepted", "accepted_with_conditions", "rejected")

BAD_DECISION = "decision {value!r} is not one of {known}. Fix: use one of them."
NO_CONDITIONS = ("decision 'accepted_with_conditions' needs the conditions. Fix: pass --conditions "
                 "'<what must be done>'.")
NO_REVIEWER = "a sign-off needs the reviewer's name. Fix: pass --reviewer NAME."
NO_CRYPTOGRAPHY = "signing needs the `cryptography` package. Fix: pip install cryptography"
BAD_KEY = ("{path} is not an Ed25519 {what} key in PEM form ({error}). Fix: create a key pair with "
           "`deepaudit keygen --out FILE` (FILE and FILE.pub).")
NO_MANIFEST = ("run {run_id} has no manifest (written before deepaudit recorded one), so it cannot be {what}. "
               "Fix: re-run the audit to get a run with a manifest.")


def sha256_file(path: str | Path) -> str:
    """sha256 of a file's bytes, read in 1 MiB blocks (the one implementation; audit.weights re-exports it)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def canonical(obj: Any) -> bytes:
    """The bytes a hash of a JSON object is taken over: sorted keys, no whitespace, UTF-8."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sha256_json(obj: Any) -> str:
    return hashlib.sha256(canonical(obj)).hexdigest()


def run_files(run_dir: Path) -> dict[str, str]:
    """``{relative path: sha256}`` of every file of a run, the manifest and signature excepted."""
    out = {}
    for p in sorted(run_dir.rglob("*")):
        rel = p.relative_to(run_dir).as_posix()
        if p.is_file() and rel not in UNLISTED:
            out[rel] = sha256_file(p)
    return out


def write_manifest(run_dir: Path) -> str:
    """Hash the run's files into ``manifest.json``; returns the manifest hash."""
    manifest = {"algorithm": "sha256", "files": run_files(run_dir)}
    (run_dir / MANIFEST).write_bytes(canonical(manifest))
    return sha256_json(manifest)


def read_manifest(run_dir: Path) -> dict[str, Any] | None:
    """The run's manifest, or None when it has none or it is not a JSON object."""
    try:
        doc = json.loads((run_dir / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and isinstance(doc.get("files"), dict) else None


def manifest_hash(run_dir: Path) -> str | None:
    doc = read_manifest(run_dir)
    return None if doc is None else sha256_json(doc)


# -- the chain -------------------------------------------------------------------------------------------------
CHAIN_SCHEMA = ("CREATE TABLE IF NOT EXISTS chain (seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, run_id TEXT NOT "
                "NULL, entry_hash TEXT NOT NULL, recorded_at TEXT NOT NULL, payload TEXT, prev_hash TEXT NOT NULL, "
                "chain_hash TEXT NOT NULL)")
# Append-only inside SQLite too: updates and deletes of chain rows are refused by triggers (a determined
# editor can drop them, which verify then sees as a broken chain).
CHAIN_TRIGGERS = (
    "CREATE TRIGGER IF NOT EXISTS chain_no_update BEFORE UPDATE ON chain BEGIN "
    "SELECT RAISE(ABORT, 'the chain is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS chain_no_delete BEFORE DELETE ON chain BEGIN "
    "SELECT RAISE(ABORT, 'the chain is append-only'); END",
)


def link(prev_hash: str, kind: str, run_id: str, entry_hash: str, recorded_at: str) -> str:
    return hashlib.sha256("|".join((prev_hash, kind, run_id, entry_hash, recorded_at)).encode()).hexdigest()


def ensure_chain(con: sqlite3.Connection) -> None:
    con.execute(CHAIN_SCHEMA)
    for sql in CHAIN_TRIGGERS:
        con.execute(sql)


def append(con: sqlite3.Connection, kind: str, run_id: str, entry_hash: str, payload: dict | None = None,
           *, recorded_at: str | None = None) -> dict[str, Any]:
    """Append one entry (inside the caller's transaction); returns it."""
    ensure_chain(con)
    row = con.execute("SELECT seq, chain_hash FROM chain ORDER BY seq DESC LIMIT 1").fetchone()
    seq, prev = (row[0] + 1, row[1]) if row else (1, GENESIS)
    at = recorded_at or datetime.now(timezone.utc).isoformat(timespec="microseconds")
    chain_hash = link(prev, kind, run_id, entry_hash, at)
    con.execute("INSERT INTO chain VALUES (?,?,?,?,?,?,?,?)",
                (seq, kind, run_id, entry_hash, at, None if payload is None else canonical(payload).decode(),
                 prev, chain_hash))
    return {"seq": seq, "kind": kind, "run_id": run_id, "entry_hash": entry_hash, "recorded_at": at,
            "payload": payload, "prev_hash": prev, "chain_hash": chain_hash}


def entries_readonly(con: sqlite3.Connection, run_id: str | None = None) -> list[dict[str, Any]]:
    """The chain's entries without creating the table (a read-only connection; none when there is no chain)."""
    if con.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'chain'").fetchone() is None:
        return []
    sql, args = "SELECT seq, kind, run_id, entry_hash, recorded_at, payload, prev_hash, chain_hash FROM chain", []
    if run_id is not None:
        sql, args = sql + " WHERE run_id = ?", [run_id]
    out = []
    for seq, kind, rid, eh, at, payload, prev, ch in con.execute(sql + " ORDER BY seq", args):
        try:
            body = json.loads(payload) if payload else None
        except ValueError:
            body = {"unreadable": payload}
        out.append({"seq": seq, "kind": kind, "run_id": rid, "entry_hash": eh, "recorded_at": at, "payload": body,
                    "prev_hash": prev, "chain_hash": ch})
    return out


# -- sign-offs -------------------------------------------------------------------------------------------------
def signoff_record(run_id: str, manifest: str | None, *, reviewer: str, decision: str, conditions: str = "",
                   comment: str = "", via: str = "cli") -> dict[str, Any]:
    """A validated sign-off record (what the chain stores and hashes)."""
    if not isinstance(reviewer, str) or not reviewer.strip():
        raise ValueError(NO_REVIEWER)
    if decision not in DECISIONS:
        raise ValueError(BAD_DECISION.format(value=decision, known=list(DECISIONS)))
    if decision == "accepted_with_conditions" and not (conditions or "").strip():
        raise ValueError(NO_CONDITIONS)
    return {"run_id": run_id, "manifest_hash": manifest, "reviewer": reviewer.strip()[:200], "decision": decision,
            "conditions": (conditions or "").strip()[:4000], "comment": (comment or "").strip()[:4000], "via": via}


# -- signatures ------------------------------------------------------------------------------------------------
def _crypto() -> Any:
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError as exc:  # pragma: no cover - cryptography is a dependency
        raise ImportError(NO_CRYPTOGRAPHY) from exc
    return serialization, ed25519


def generate_keypair(out: Path) -> tuple[Path, Path]:
    """Write an Ed25519 private key (PEM, ``out``, mode 0600) and its public key (``out.pub``)."""
    import os

    serialization, ed25519 = _crypto()
    key = ed25519.Ed25519PrivateKey.generate()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    pub = out.with_name(out.name + ".pub")
    pub.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo))
    return out, pub


def _load_key(path: Path, private: bool) -> Any:
    serialization, ed25519 = _crypto()
    try:
        data = Path(path).read_bytes()
        key = (serialization.load_pem_private_key(data, password=None) if private
               else serialization.load_pem_public_key(data))
    except (OSError, ValueError, TypeError) as exc:
        raise ValueError(BAD_KEY.format(path=path, what="private" if private else "public", error=exc)) from None
    want = ed25519.Ed25519PrivateKey if private else ed25519.Ed25519PublicKey
    if not isinstance(key, want):
        raise ValueError(BAD_KEY.format(path=path, what="private" if private else "public",
                                        error=f"a {type(key).__name__}"))
    return key


def public_pem(key: Any) -> str:
    serialization, _ = _crypto()
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def fingerprint(pem: str) -> str:
    """Short id of a public key: the first 16 hex characters of the sha256 of its PEM text."""
    return hashlib.sha256(pem.strip().encode()).hexdigest()[:16]


def sign_run(run_dir: Path, key_path: Path, *, signer: str = "") -> dict[str, Any]:
    """Sign the run's manifest hash with the Ed25519 key at ``key_path``; writes ``signature.json``."""
    mh = manifest_hash(run_dir)
    if mh is None:
        raise ValueError(NO_MANIFEST.format(run_id=run_dir.name, what="signed"))
    key = _load_key(key_path, private=True)
    pem = public_pem(key.public_key())
    doc = {"algorithm": "Ed25519", "signed": "manifest hash (64 hex characters, ASCII)", "manifest_hash": mh,
           "signature": key.sign(mh.encode()).hex(), "public_key": pem, "key_fingerprint": fingerprint(pem),
           "signer": signer, "signed_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    (run_dir / SIGNATURE).write_text(json.dumps(doc, indent=1) + "\n")
    return doc


def signature_status(run_dir: Path, public_key: Path | None = None) -> dict[str, Any]:
    """Whether the run is signed, and whether the signature holds for its current manifest (and, given
    ``public_key``, was made by that key)."""
    path = run_dir / SIGNATURE
    if not path.is_file():
        return {"status": "unsigned"}
    try:
        doc = json.loads(path.read_text())
        sig, pem, signed_hash = bytes.fromhex(doc["signature"]), doc["public_key"], doc["manifest_hash"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return {"status": "invalid", "reason": f"signature.json is unreadable ({exc})"}
    serialization, _ = _crypto()
    out = {"key_fingerprint": fingerprint(pem), "signer": doc.get("signer", ""), "signed_at": doc.get("signed_at")}
    current = manifest_hash(run_dir)
    if current != signed_hash:
        return {**out, "status": "invalid", "reason": "the run's manifest changed after it was signed"}
    try:
        key = serialization.load_pem_public_key(pem.encode())
        key.verify(sig, signed_hash.encode())
    except Exception as exc:  # noqa: BLE001 - cryptography's InvalidSignature and key errors alike
        return {**out, "status": "invalid", "reason": f"the signature does not verify ({type(exc).__name__})"}
    if public_key is not None:
        trusted = public_pem(_load_key(public_key, private=False))
        if fingerprint(trusted) != out["key_fingerprint"]:
            return {**out, "status": "invalid",
                    "reason": f"signed by key {out['key_fingerprint']}, not by the trusted key {fingerprint(trusted)}"}
        return {**out, "status": "valid", "trusted": True}
    return {**out, "status": "valid", "trusted": False,
            "note": "checked with the public key stored beside the signature; pass --public-key to check the signer"}


# -- verification ----------------------------------------------------------------------------------------------
@dataclass
class Finding:
    run_id: str
    problem: str
    detail: str

    def line(self) -> str:
        return f"{self.run_id}: {self.problem}: {self.detail}"


@dataclass
class Verification:
    checked: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    chain_length: int = 0
    signatures: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: runs chained by ``deepaudit seal`` after they were written: run id -> when
    sealed: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.findings

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "checked": self.checked, "chain_length": self.chain_length,
                "findings": [f.__dict__ for f in self.findings], "signatures": self.signatures,
                "sealed_later": self.sealed}


def verify_run_files(run_dir: Path) -> list[Finding]:
    """Every file of the run against its manifest: changed, missing and added files."""
    rid = run_dir.name
    doc = read_manifest(run_dir)
    if doc is None:
        return [Finding(rid, "no manifest", "the run has no readable manifest.json, so its files cannot be checked")]
    listed = {str(k): str(v) for k, v in doc["files"].items()}
    present = run_files(run_dir)
    out = []
    for rel in sorted(set(listed) | set(present)):
        if rel not in present:
            out.append(Finding(rid, "file missing", f"{rel} is listed in the manifest but not in the run"))
        elif rel not in listed:
            out.append(Finding(rid, "file added", f"{rel} is in the run but not in its manifest"))
        elif present[rel] != listed[rel]:
            out.append(Finding(rid, "file changed", f"{rel}: sha256 {present[rel][:16]}... differs from the "
                                                    f"manifest's {listed[rel][:16]}..."))
    return out


def verify_chain(chain: list[dict[str, Any]]) -> list[Finding]:
    """Each entry's link recomputed from its fields and the previous entry's hash."""
    out, prev = [], GENESIS
    for e in chain:
        if e["prev_hash"] != prev:
            out.append(Finding(e["run_id"], "chain broken", f"entry {e['seq']} follows {e['prev_hash'][:16]}..., "
                                                             f"but the entry before it ends in {prev[:16]}..."))
        want = link(e["prev_hash"], e["kind"], e["run_id"], e["entry_hash"], e["recorded_at"])
        if want != e["chain_hash"]:
            out.append(Finding(e["run_id"], "chain entry altered", f"entry {e['seq']} ({e['kind']}) does not hash to "
                                                                    "its recorded link"))
        if e["kind"] == "signoff" and isinstance(e["payload"], dict) and sha256_json(e["payload"]) != e["entry_hash"]:
            out.append(Finding(e["run_id"], "sign-off altered", f"entry {e['seq']}'s record does not hash to its "
                                                                 "recorded hash"))
        prev = e["chain_hash"]
    return out
