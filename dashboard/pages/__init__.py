"""Dashboard pages. Each module exposes ``build(ctx, ...)`` (the layout, ``ctx`` an
:class:`~deepaudit.dashboard.context.AppContext`) and, where it has callbacks, ``register_callbacks(app, ctx)``;
:func:`deepaudit.dashboard.app.create_app` registers them with Dash."""
