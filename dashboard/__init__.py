"""The Dash dashboard (``create_app(store)``). Not built yet: it reads the run store,
which arrives with the explanation-engine issue."""
