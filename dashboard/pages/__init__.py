"""Dashboard pages. Each module exposes ``build(ctx, ...)`` (the layout, ``ctx`` an
:class:`~dashboard.context.AppContext`) and, where it has callbacks, ``register_callbacks(app, ctx)``;
:func:`dashboard.app.create_app` registers them with Dash."""
