"""Jobs: more runs of a comparison's groups (run_more) and new configurations of a run (sweep), on an engine.

``tasks`` (what an engine runs, the Engine protocol), ``worker`` (how one task runs, on any machine),
``local`` (the subprocess engine), ``ingest`` (results into the owner's store), ``plan`` (what to run),
``job`` (state, resume), ``loop`` (``run_more``/``sweep``). ``dask`` (the Dask engine) is imported only on request.
"""
