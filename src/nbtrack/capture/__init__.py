"""Capture: the run lifecycle (``track()``, ``ActiveRun``), the ``%%track`` magic, params, environment, notebook."""
