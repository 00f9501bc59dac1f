"""Satisfaction logging (surveys, per-answer feedback, conversation outcomes) and the analyst dashboard.

``bot.analytics.setup.setup_analytics(app)`` wires it into the gateway; see METRICS.md for the metrics.
"""
