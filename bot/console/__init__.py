"""The operator's console: pages under ``/console``, a JSON API under ``/console/api/``.

Kept light at import time (``bot.config`` imports :mod:`bot.console.config`): the web
parts are in :mod:`bot.console.web`, built by :func:`bot.console.build.build_console`.
"""
