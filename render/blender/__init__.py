"""The Blender backend: the ONLY package that imports ``bpy`` / ``blenderproc``.

- :mod:`render.blender.bootstrap` makes PyPI's blenderproc 2.8.0 run in-process on
  the pip ``bpy`` 4.2 module;
- :mod:`render.blender.backend` builds a :class:`~render.spec.SceneSpec` in Blender
  and renders its views to numpy arrays;
- :mod:`render.blender.worker` is what the driver's worker processes call.

Nothing here is imported by the pure modules; the driver imports
``render.blender.worker`` only inside spawned worker processes.
"""
