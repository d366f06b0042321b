"""Tamper-evident runs (audit/integrity.py): manifests, the store's hash chain, verify, Ed25519 signatures and
reviewer sign-offs. Every kind of damage is made here by hand and must be found; an untouched store verifies."""
from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys

import pytest

from deepaudit.audit import integrity
from deepaudit.audit.runner import RunConfig, audit_target
from deepaudit.audit.store import RunStore
from deepaudit.audit.testing import linear_target


@pytest.fixture
def store(tmp_path):
    """Three small runs in a fresh store (copied from one module-level audit: cheap)."""
    s = RunStore(tmp_path / "runs")
    for seed in range(3):
        audit_target(linear_target(), RunConfig(progress=False, samples=8, seed=seed, quality_samples=4), store=s)
    return s


def _ids(store):
    return sorted(store.list_runs()["run_id"])


def test_an_untouched_store_verifies_and_every_run_is_chained(store):
    v = store.verify()
    assert v.ok, [f.line() for f in v.findings]
    assert v.checked == _ids(store) and v.chain_length == 3
    chain = store.chain()
    assert [e["kind"] for e in chain] == ["run"] * 3 and chain[0]["prev_hash"] == integrity.GENESIS
    for e, nxt in zip(chain, chain[1:]):
        assert nxt["prev_hash"] == e["chain_hash"]
    for e in chain:   # each run's chain entry is its manifest's hash, and the manifest lists every file
        d = store.runs_dir / e["run_id"]
        assert integrity.manifest_hash(d) == e["entry_hash"]
        assert set(integrity.read_manifest(d)["files"]) >= {"result.json", "predictions.parquet"}


def test_a_changed_byte_in_any_file_is_found(store):
    rid = _ids(store)[1]
    d = store.runs_dir / rid
    for rel in integrity.read_manifest(d)["files"]:
        path = d / rel
        original = path.read_bytes()
        flipped = bytearray(original)
        flipped[len(flipped) // 2] ^= 0x01
        path.write_bytes(bytes(flipped))
        v = store.verify()
        assert not v.ok and [(f.run_id, f.problem) for f in v.findings] == [(rid, "file changed")], rel
        assert rel in v.findings[0].detail
        path.write_bytes(original)
    assert store.verify().ok


def test_added_missing_files_a_rewritten_manifest_and_a_deleted_run_are_found(store):
    a, b, c = _ids(store)
    (store.runs_dir / a / "arrays" / "planted.npz").write_bytes(b"x")
    (store.runs_dir / b / "predictions.parquet").unlink()
    # c: a result edited and its manifest regenerated to match, so only the chain can tell
    res = store.runs_dir / c / "result.json"
    doc = json.loads(res.read_text())
    doc["checks"][0]["passed"] = not doc["checks"][0]["passed"]
    res.write_text(json.dumps(doc))
    integrity.write_manifest(store.runs_dir / c)
    found = {(f.run_id, f.problem) for f in store.verify().findings}
    assert found == {(a, "file added"), (b, "file missing"), (c, "manifest replaced")}
    shutil.rmtree(store.runs_dir / b)
    found = {(f.run_id, f.problem) for f in store.verify().findings}
    assert (b, "run deleted") in found
    # one run's check stays its own: verifying a alone reports only a
    assert {f.run_id for f in store.verify([a]).findings} == {a}


def test_the_chain_cannot_be_edited_in_place_and_an_edit_that_bypasses_sqlite_is_found(store):
    con = sqlite3.connect(store.index_path)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        con.execute("UPDATE chain SET entry_hash = 'x' WHERE seq = 2")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        con.execute("DELETE FROM chain WHERE seq = 2")
    # someone drops the triggers and rewrites an entry's hash
    con.execute("DROP TRIGGER chain_no_update")
    con.execute("UPDATE chain SET recorded_at = '2020-01-01T00:00:00+00:00' WHERE seq = 2")
    con.commit()
    con.close()
    problems = {f.problem for f in store.verify().findings}
    assert "chain entry altered" in problems


def test_a_run_planted_without_the_store_is_not_in_the_chain(store, tmp_path):
    rid = _ids(store)[0]
    planted = store.runs_dir / (rid.replace(rid[-8:], "deadbeef"))
    shutil.copytree(store.runs_dir / rid, planted)
    found = {(f.run_id, f.problem) for f in store.verify().findings}
    assert found == {(planted.name, "not in the chain")}


def test_signatures_hold_fail_after_a_change_and_fail_for_another_key(store, tmp_path):
    rid = _ids(store)[0]
    d = store.runs_dir / rid
    key, pub = integrity.generate_keypair(tmp_path / "keys" / "auditor")
    other_key, other_pub = integrity.generate_keypair(tmp_path / "keys" / "someone_else")
    assert oct(key.stat().st_mode)[-3:] == "600"
    integrity.sign_run(d, key, signer="model risk")
    v = store.verify([rid], public_key=pub)
    assert v.ok and v.signatures[rid]["status"] == "valid" and v.signatures[rid]["trusted"]
    # the same signature checked against another trusted key fails
    v = store.verify([rid], public_key=other_pub)
    assert not v.ok and "not by the trusted key" in v.findings[0].detail
    # a signature made by another key (stored with its own public key) is valid only for that key
    integrity.sign_run(d, other_key)
    assert store.verify([rid], public_key=other_pub).ok and not store.verify([rid], public_key=pub).ok
    # a forged signature byte
    doc = json.loads((d / integrity.SIGNATURE).read_text())
    doc["signature"] = ("0" if doc["signature"][0] != "0" else "1") + doc["signature"][1:]
    (d / integrity.SIGNATURE).write_text(json.dumps(doc))
    v = store.verify([rid])
    assert [f.problem for f in v.findings] == ["signature invalid"] and "does not verify" in v.findings[0].detail
    # signed, then a file changes: the file and the signature are both reported
    integrity.sign_run(d, key)
    (d / "result.json").write_text((d / "result.json").read_text() + " ")
    integrity.write_manifest(d)
    problems = {f.problem for f in store.verify([rid], public_key=pub).findings}
    assert problems == {"manifest replaced", "signature invalid"}


def test_signoffs_are_validated_append_only_and_chained(store):
    rid = _ids(store)[0]
    with pytest.raises(ValueError, match="needs the conditions"):
        store.signoff(rid, reviewer="A. Validator", decision="accepted_with_conditions")
    with pytest.raises(ValueError, match="not one of"):
        store.signoff(rid, reviewer="A. Validator", decision="maybe")
    with pytest.raises(ValueError, match="reviewer"):
        store.signoff(rid, reviewer=" ", decision="accepted")
    store.signoff(rid, reviewer="A. Validator", decision="accepted_with_conditions",
                  conditions="monitor the min30 proxy monthly", comment="reason codes checked")
    store.signoff(rid, reviewer="B. Head", decision="accepted")
    got = store.signoffs(rid)
    assert [(s["reviewer"], s["decision"]) for s in got] == [("A. Validator", "accepted_with_conditions"),
                                                           ("B. Head", "accepted")]
    assert got[0]["manifest_hash"] == integrity.manifest_hash(store.runs_dir / rid)
    assert store.verify().ok and len(store.chain()) == 5
    # a sign-off's text changed behind SQLite's back is found
    con = sqlite3.connect(store.index_path)
    con.execute("DROP TRIGGER chain_no_update")
    payload = json.loads(con.execute("SELECT payload FROM chain WHERE kind = 'signoff' LIMIT 1").fetchone()[0])
    payload["decision"] = "accepted"
    con.execute("UPDATE chain SET payload = ? WHERE kind = 'signoff' AND seq = 4",
                (integrity.canonical(payload).decode(),))
    con.commit()
    con.close()
    assert "sign-off altered" in {f.problem for f in store.verify().findings}


def test_cli_keygen_sign_signoff_verify(store, tmp_path):
    rid = _ids(store)[2]

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "deepaudit.audit.cli", *args], capture_output=True, text=True)

    root = str(store.root)
    assert cli("keygen", "--out", str(tmp_path / "k")).returncode == 0
    assert cli("sign", rid, "--key", str(tmp_path / "k"), "--store", root).returncode == 0
    res = cli("signoff", rid, "--reviewer", "C. Reviewer", "--decision", "rejected", "--comment", "proxy too strong",
              "--store", root)
    assert res.returncode == 0 and "rejected by C. Reviewer" in res.stdout
    res = cli("verify", "--all", "--store", root, "--public-key", str(tmp_path / "k.pub"))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "no change found" in res.stdout and "signed by key" in res.stdout
    (store.runs_dir / rid / "result.json").write_text("{}")
    res = cli("verify", rid, "--store", root, "--json")
    assert res.returncode == 1
    # the signature still covers the recorded manifest; the file no longer matches that manifest
    assert {f["problem"] for f in json.loads(res.stdout)["findings"]} == {"file changed"}
    res = cli("verify", "--store", root)
    assert res.returncode != 0 and "--all" in res.stderr


def test_verifying_writes_nothing(store):
    """Verifying reads only (the chain through a read-only connection): the index and every run file keep their
    bytes, so a read-only store or a write-protected archive verifies the same way."""
    import hashlib

    def digest():
        return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(store.root.rglob("*")) if p.is_file()}

    before = digest()
    assert store.verify().ok and store.chain()
    assert digest() == before


def test_runs_written_before_manifests_are_sealed_later_and_then_verified(tmp_path):
    """A store from before manifests (the v1 fixture): verify reports every run unsealed; `seal --all` chains them
    as sealed later; verify then passes and still finds a changed byte; a copied-in run with a manifest is not
    sealed without --adopt."""
    from pathlib import Path

    root = tmp_path / "v1"
    shutil.copytree(Path(__file__).resolve().parents[1] / "fixtures" / "store_v1", root)
    store = RunStore(root)
    before = store.verify()
    assert {f.problem for f in before.findings} == {"no manifest", "not in the chain"}
    sealed = store.seal()
    assert len(sealed) == 3 and all(e["kind"] == "seal" for e in sealed)
    v = store.verify()
    assert v.ok and set(v.sealed) == set(v.checked)
    assert store.seal() == []                                     # nothing left to seal
    rid = v.checked[0]
    (root / "runs" / rid / "result.json").write_text((root / "runs" / rid / "result.json").read_text() + " ")
    assert [(f.run_id, f.problem) for f in store.verify().findings] == [(rid, "file changed")]
    other = RunStore(tmp_path / "other")   # a run written by another store, copied in (it has a manifest)
    written = audit_target(linear_target(), RunConfig(progress=False, samples=4, quality_samples=4), store=other)
    copy = root / "runs" / written.run_id
    shutil.copytree(other.runs_dir / written.run_id, copy)
    with pytest.raises(ValueError, match="not written by this store"):
        store.seal([copy.name])
    assert store.seal([copy.name], adopt=True)[0]["payload"]["adopted"] is True
    # the report says the run was sealed later
    from deepaudit.audit.report.model import integrity_metadata

    assert integrity_metadata(store.load(v.checked[1]))["integrity"]["chain_entry"]["kind"] == "seal"
