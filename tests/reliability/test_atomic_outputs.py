"""Output files are replaced atomically: killing or interrupting a writer leaves the previous complete file."""
from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from deepaudit.audit.atomic import write_atomic

CHILD = """
import os, sys
import deepaudit.audit.atomic as a
real_fsync = os.fsync
def slow_fsync(fd):
    print("written, not yet renamed", flush=True)
    sys.stdin.readline()          # wait for the parent, who kills us here
    real_fsync(fd)
a.os.fsync = slow_fsync
a.write_atomic({path!r}, b"%PDF-1.7 new and longer " * 1000)
"""


def test_writer_killed_mid_write_leaves_the_previous_file(tmp_path):
    target = tmp_path / "report.pdf"
    target.write_bytes(b"%PDF-1.7 the good old report")
    proc = subprocess.Popen([sys.executable, "-c", CHILD.format(path=str(target))], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "written, not yet renamed"      # handshake, no sleep
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert target.read_bytes() == b"%PDF-1.7 the good old report"


def test_interrupted_pdf_render_keeps_the_good_pdf(tmp_path, monkeypatch):
    from deepaudit.audit.report import pdf

    target = tmp_path / "r.pdf"
    target.write_bytes(b"%PDF good")

    class Interrupted:
        def __init__(self, **_):
            pass

        def write_pdf(self, *a, **k):
            raise KeyboardInterrupt

    monkeypatch.setattr(pdf, "_weasyprint", lambda: type("W", (), {"HTML": Interrupted}))
    with pytest.raises(KeyboardInterrupt):
        pdf.render_pdf("<p>x</p>", target)
    assert target.read_bytes() == b"%PDF good"
    assert [p.name for p in tmp_path.iterdir()] == ["r.pdf"]


def test_failure_during_write_removes_the_temporary_file(tmp_path, monkeypatch):
    import os

    target = tmp_path / "r.json"
    target.write_text("{}")

    def boom(*a):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="No space left"):
        write_atomic(target, "{\"new\": 1}")
    assert target.read_text() == "{}" and [p.name for p in tmp_path.iterdir()] == ["r.json"]
