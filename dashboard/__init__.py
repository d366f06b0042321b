"""The Dash dashboard: :func:`dashboard.app.create_app` builds it over a run store, ``deepaudit serve``
(:mod:`dashboard.serve`) serves it. Stored views read the run directory alone; live explanations load a
model only through :class:`dashboard.context.LiveModels` (see docs/architecture.md, "Stored versus live")."""
