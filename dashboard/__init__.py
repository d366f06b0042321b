"""The Dash dashboard: :func:`deepaudit.dashboard.app.create_app` builds it over a run store, ``deepaudit serve``
(:mod:`deepaudit.dashboard.serve`) serves it. Stored views read the run directory alone; live explanations load a
model only through :class:`deepaudit.dashboard.context.LiveModels` (see docs/architecture.md, "Stored versus live")."""
