"""Audit reports: HTML, PDF, JSON and a model card from one stored run.

    from deepaudit.audit.report import write_reports
    write_reports(RunStore("deepaudit-runs").load("latest"), "reports", formats="html,pdf,json")

:func:`build_report` turns a run into the report model (a JSON-able dict, the
JSON report itself); the HTML template, the figures and the model card read
only that dict, so every number in the HTML/PDF is in the JSON. Plotting
(matplotlib) and PDF (WeasyPrint) libraries are imported only when rendering.
"""
from deepaudit.audit.report.model import Report, build_report
from deepaudit.audit.report.pdf import PDF_MISSING, PdfUnavailable
from deepaudit.audit.report.schema import report_schema, validate_report
from deepaudit.audit.report.writer import FORMATS, UNKNOWN_FORMAT, Written, parse_formats, write_reports

__all__ = ["FORMATS", "PDF_MISSING", "UNKNOWN_FORMAT", "PdfUnavailable", "Report", "Written", "build_report",
           "parse_formats", "report_schema", "validate_report", "write_reports"]
