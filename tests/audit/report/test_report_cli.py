"""`deepaudit report`: paths printed, exit 2 on unknown run ids and formats."""
from __future__ import annotations

from deepaudit.audit.cli import main


def test_report_unknown_run_id_exits_2(report_store, capsys):
    rc = main(["report", "no-such-run", "--store", str(report_store)])
    assert rc == 2
    assert "no run 'no-such-run'" in capsys.readouterr().err


def test_report_unknown_format_exits_2(report_store, tmp_path, capsys):
    rc = main(["report", "latest", "--store", str(report_store), "--format", "html,docx", "--out", str(tmp_path)])
    assert rc == 2
    err = capsys.readouterr().err
    assert "unknown report format 'docx'" in err and "html, pdf, json, model-card" in err
    assert not list(tmp_path.iterdir())


def test_report_latest_for_model_prints_paths(report_store, tmp_path, capsys):
    rc = main(["report", "latest", "--store", str(report_store), "--model", "mnist_cnn_shortcut",
               "--format", "json,model-card", "--out", str(tmp_path)])
    assert rc == 0
    lines = capsys.readouterr().out.split()
    assert len(lines) == 2 and lines[0].endswith(".report.json") and lines[1].endswith(".model-card.json")
    assert all((tmp_path / p.split("/")[-1]).is_file() for p in lines)
