"""Query: ``runs()``, ``get_run()``, the ``where`` language and the runs table every view shows."""
