"""Reading runs: the runs table (``table``), the ``where`` filter (``where``), the one selection every view
uses (``select``), and the public ``runs()``, ``get_run``, ``delete_run``, ``set_tag`` (``search``)."""
