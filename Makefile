# The README's commands. Every target is idempotent and sets up .venv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.deepaudit-installed

.PHONY: setup system-deps demo serve test bench bench-peers gpu-check clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# CPU build of torch first (a plain `torch` would pull a multi-GB CUDA build).
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[test]'
	# Byte-compile the source tree once: an editable install is not compiled, and where PYTHONDONTWRITEBYTECODE
	# is set every CLI start would recompile deepaudit's modules (~0.2 s); a module edited later is recompiled
	# in memory as before.
	$(PY) -m compileall -q audit models dashboard deepaudit >/dev/null
	touch $(STAMP)

# Debian chromium + chromium-driver (browser tests), poppler-utils (PDF checks) and the
# Pango libraries WeasyPrint needs for PDF reports, installed when running as root and missing.
SYSTEM_PACKAGES := chromium chromium-driver poppler-utils libpango-1.0-0 libpangoft2-1.0-0
system-deps:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null && command -v pdftoppm >/dev/null \
	    && { ! command -v ldconfig >/dev/null || ldconfig -p | grep -q libpangoft2-1.0; }; then \
	  echo "system packages present"; \
	elif [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_PACKAGES) >/dev/null; \
	else \
	  echo "note: some of $(SYSTEM_PACKAGES) missing and not root; tests needing them will say so"; \
	fi

setup: $(STAMP)

# Reports (HTML, PDF, JSON, model card) for every bundled model land in deepaudit-reports/;
# then the dashboard is served on http://127.0.0.1:8050/ (Ctrl+C stops it).
demo: setup system-deps
	$(VENV)/bin/deepaudit models
	$(VENV)/bin/deepaudit evaluate --all
	$(VENV)/bin/deepaudit run --all --store deepaudit-runs --report --report-dir deepaudit-reports
	$(VENV)/bin/deepaudit list --store deepaudit-runs
	$(VENV)/bin/deepaudit serve --store deepaudit-runs

serve: setup
	$(VENV)/bin/deepaudit serve --store deepaudit-runs

# Lint first (seconds), then the suite on two workers; the dashboard, report and reliability tests each
# stay on one worker (tests/conftest.py groups them) so their session fixtures are built once.
# pytest < 9: pytest-xdist 3.8 cannot group tests under pytest 9.
test: setup system-deps
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q -n 2 --dist loadgroup

bench: setup
	$(PY) benchmarks/ig_overhead.py
	$(PY) benchmarks/run_all.py
	$(PY) benchmarks/fairness_vs_fairlearn.py
	$(PY) benchmarks/mitigation_vs_fairlearn.py
	$(PY) benchmarks/shared_cores.py
	$(PY) benchmarks/dashboard_load.py --store deepaudit-runs

# Optional: builds benchmarks/.peers-venv with explainerdashboard (a few minutes, once), then ~15 min.
bench-peers: setup
	$(PY) benchmarks/vs_peers.py

gpu-check: setup
	$(PY) benchmarks/gpu_check.py

clean:
	rm -rf $(VENV) .pytest_cache
