"""Satisfaction logging (surveys, per-answer feedback, conversation outcomes) and the analyst dashboard.

``setup.setup_analytics`` adds the routes (``views``) and the durable writer; the app factory builds
the survey with ``setup.build_survey``. ``survey`` asks for ratings and logs each turn's outcome as an
operation (``ops``) that ``store`` writes, or keeps in a spool file while the database is down;
``models`` are the tables, ``queries`` the dashboard's figures (defined in METRICS.md), ``clock`` the
Beijing days they are counted in, and ``demo`` fills a database with synthetic conversations.
"""
