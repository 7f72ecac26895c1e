"""Generic family: primitives and meshes on a ground plane (``config.py``, ``sampler.py``)."""
