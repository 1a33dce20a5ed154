"""Exporting a run: slicing the kernel history, translating magics, rendering, and the exported scripts' runtime."""
