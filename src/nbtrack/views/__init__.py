"""Views in the kernel: the ipywidgets panel, its model and the ``%nbtrack`` line magic."""
