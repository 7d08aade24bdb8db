"""The local web dashboard and its JSON API (FastAPI, Jinja2 templates, htmx). An edge, like the
CLI and the daemon: nothing imports it except `cnp serve` and `cnp daemon --web`, so the
web framework is never loaded by other commands.

- `app.create_app(location)` builds the ASGI application for one database.
- `server.WebServer` runs it with uvicorn on a background thread (no signal handlers of its
  own: the caller's main thread owns them).
- `security` holds the token, sessions, one-time login codes and the request guard.
"""
