"""Dashboard pages. Each module exposes ``build(store, ...)`` (the layout) and, where it has callbacks,
``register_callbacks(app, store)``; :func:`dashboard.app.create_app` registers them with Dash."""
