"""The human review queue: store (``store``), intake from the pipeline (``intake``), API (``api``), reviewer UI
(``ui``), feedback export (``export``). Nothing is imported here: ``gateway.settings`` reads ``config`` alone."""
