"""The operator's console: pages under ``/console``, a JSON API under ``/console/api/``.

An adapter like the OCPP or nostr side: it reads the store and the core and acts through
the ports; ``app.py`` builds it with :func:`bot.console.build.build_console`. Its config
table is parsed in :mod:`bot.config.console`.
"""
