"""synthcv: synthetic computer-vision datasets rendered with BlenderProc.

Only :mod:`render.blender` imports ``bpy``/``blenderproc``; every other module is
pure Python and runs without Blender.
"""

__version__ = "0.1.0"
