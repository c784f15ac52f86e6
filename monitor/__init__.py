"""The web monitor served by the app itself: conversations, turns and each turn's orchestration timeline.

function_app.py registers ``monitor.monitor_routes.bp``; docs/monitor.md describes the pages."""
