"""Run PyPI's blenderproc 2.8.0 in-process on the pip ``bpy`` 4.2 module.

blenderproc 2.8.0 expects to be started by ``blenderproc run`` inside a Blender it
downloads. Upstream's unreleased main branch supports an external ``bpy``
(``USE_EXTERNAL_BPY_MODULE``, BlenderProc PR #1158); once a release ships it, this
module should shrink to setting that variable. Until then :func:`import_blenderproc`
neutralizes exactly what 2.8.0's ``__init__`` does on import (facts measured in
``shared/BLENDER_NOTES.md``):

1. it fills the ``bproc.*`` API only if ``INSIDE_OF_THE_INTERNAL_BLENDER_PYTHON_ENVIRONMENT``
   is set -> we set it;
2. it removes its parent folder (site-packages!) from ``sys.path`` -> we put a
   duplicate entry first, so ``list.remove`` takes the duplicate and site-packages stays;
   it deletes ``PYTHONPATH`` from the environment -> restored afterwards;
3. it calls ``SetupUtility.setup([])``, which pip-installs packages into a Blender-bundled
   Python -> replaced by a function that only sets BlenderProc's temp dir (under
   ``/dev/shm`` when available, removed at exit); ``determine_python_paths`` points at
   ``bpy.utils.resource_path('LOCAL')`` so helpers that load bundled ``.blend`` files work;
4. ``bproc.init()`` sets ``preferences.view.language``, which the module build lacks
   (TypeError) -> :func:`init` does what ``bproc.init`` does, minus that line and minus
   its global ``random``/``np.random`` seeding from an env var;
5. numpy 2 removed ``np.string_``/``np.in1d``, still used by ``write_hdf5`` and the
   noisy-pixel helper -> aliased back if missing;
6. interpreter exit can segfault in ``bpy_class_free`` -> an ``atexit`` handler disables
   add-ons and unregisters startup modules first (all variants then exit 0).

``tests/test_blender_bootstrap.py`` fails loudly if the bpy or blenderproc version
changes: re-check each point above before updating the pins.
"""

from __future__ import annotations

import atexit
import importlib
import os
import shutil
import sys
import tempfile
from types import ModuleType
from typing import Any

EXPECTED_BPY = "4.2"
EXPECTED_BLENDERPROC = "2.8.0"

_state: dict[str, Any] = {"bproc": None, "temp_dir": None, "initialized": False}


class BootstrapError(RuntimeError):
    """bpy/blenderproc are missing or not the versions this bootstrap was written for."""


def _import_bpy() -> ModuleType:
    try:
        import bpy
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise BootstrapError(
            f"cannot import bpy ({exc}); install the pinned Blender module: pip install 'bpy=={EXPECTED_BPY}.*' "
            "(Python 3.11 only)"
        ) from exc
    version = ".".join(str(v) for v in bpy.app.version[:2])
    if version != EXPECTED_BPY:
        raise BootstrapError(
            f"bpy {bpy.app.version_string} found, this bootstrap supports bpy {EXPECTED_BPY}.*"
        )
    return bpy


def _make_temp_dir() -> str:
    base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    path = tempfile.mkdtemp(prefix="synthcv-bproc-", dir=base)
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def import_blenderproc() -> ModuleType:
    """Import and return ``blenderproc`` with its full ``bproc.*`` API, in-process.

    Idempotent. Raises :class:`BootstrapError` if bpy or blenderproc is missing or
    has an unexpected version.
    """
    if _state["bproc"] is not None:
        return _state["bproc"]
    bpy = _import_bpy()
    try:
        from importlib.metadata import version

        bp_version = version("blenderproc")
    except Exception as exc:  # pragma: no cover
        raise BootstrapError(
            f"blenderproc is not installed: pip install blenderproc=={EXPECTED_BLENDERPROC}"
        ) from exc
    if bp_version != EXPECTED_BLENDERPROC:
        raise BootstrapError(
            f"blenderproc {bp_version} found, this bootstrap supports {EXPECTED_BLENDERPROC}"
        )

    import numpy as np

    # (5) numpy-2 aliases used by blenderproc 2.8.0's writers.
    # (setattr keeps linters from "modernizing" the alias names away.)
    if not hasattr(np, "string_"):
        setattr(np, "string_", np.bytes_)  # noqa: B010
    if not hasattr(np, "in1d"):

        def in1d(ar1: Any, ar2: Any, assume_unique: bool = False, invert: bool = False) -> Any:
            return np.isin(ar1, ar2, assume_unique=assume_unique, invert=invert).ravel()

        setattr(np, "in1d", in1d)  # noqa: B010

    # Import the package shell first (no API, no setup): the "run script" flag skips both.
    os.environ["OUTSIDE_OF_THE_INTERNAL_BLENDER_PYTHON_ENVIRONMENT_BUT_IN_RUN_SCRIPT"] = "1"
    import blenderproc
    from blenderproc.python.utility import SetupUtility as setup_module

    temp_dir = _make_temp_dir()
    _state["temp_dir"] = temp_dir
    local = bpy.utils.resource_path("LOCAL")

    # (3) no pip: only set the temp dir; resource paths point into the bpy module.
    def _setup(*_args: Any, **_kwargs: Any) -> list[str]:
        setup_module.SetupUtility.setup_utility_paths(temp_dir)
        return sys.argv

    def _paths(*_args: Any, **_kwargs: Any) -> tuple[str, str, str, str]:
        return sys.executable, local, local, local

    setup_module.SetupUtility.setup = staticmethod(_setup)  # type: ignore[method-assign]
    setup_module.SetupUtility.determine_python_paths = staticmethod(_paths)  # type: ignore[method-assign]

    # (1)+(2) re-run __init__ in "inside Blender" mode with sys.path/PYTHONPATH protected.
    parent = os.path.abspath(os.path.join(os.path.dirname(blenderproc.__file__), ".."))
    saved_pythonpath = os.environ.get("PYTHONPATH")
    os.environ["INSIDE_OF_THE_INTERNAL_BLENDER_PYTHON_ENVIRONMENT"] = "1"
    sys.path.insert(0, parent)  # the duplicate that __init__ removes
    try:
        blenderproc = importlib.reload(blenderproc)
    finally:
        if parent not in sys.path:
            sys.path.append(parent)
        if saved_pythonpath is not None:
            os.environ["PYTHONPATH"] = saved_pythonpath
        os.environ.pop("OUTSIDE_OF_THE_INTERNAL_BLENDER_PYTHON_ENVIRONMENT_BUT_IN_RUN_SCRIPT", None)
    if not hasattr(blenderproc, "init"):
        raise BootstrapError(
            "blenderproc imported without its API; the bootstrap no longer matches blenderproc"
        )

    atexit.register(_quiet_exit)
    _state["bproc"] = blenderproc
    return blenderproc


def init() -> ModuleType:
    """``bproc.init()`` without the language switch and global seeding (see module doc).

    Call once per process; use ``bproc.clean_up()`` between scenes. Returns ``bproc``.
    """
    bproc = import_blenderproc()
    if _state["initialized"]:
        return bproc
    import bpy
    from blenderproc.python.renderer import RendererUtility
    from blenderproc.python.utility.GlobalStorage import GlobalStorage
    from blenderproc.python.utility.Initializer import _Initializer, clean_up

    clean_up(clean_up_camera=True)
    bpy.context.scene.render.engine = "CYCLES"
    RendererUtility.set_render_devices()
    _Initializer.set_default_parameters()
    GlobalStorage.add("bproc_init_complete", True)
    _state["initialized"] = True
    return bproc


def _quiet_exit() -> None:
    """(6) Avoid the segfault in ``bpy_class_free`` at interpreter exit.

    Blender's C++ static destructors free Python-registered UI classes after Python
    has finalized (``PyGILState_Ensure`` on a dead interpreter). Unregistering the
    add-ons and the startup modules while Python is still alive leaves nothing to free.
    """
    try:
        import addon_utils
        import bpy
    except Exception:
        return
    for mod in list(addon_utils.modules()):
        try:
            if addon_utils.check(mod.__name__)[1]:  # (default, loaded)
                addon_utils.disable(mod.__name__, default_set=False)
        except Exception:
            pass
    loaded = list(getattr(bpy.utils, "_global_loaded_modules", []))
    for name in reversed(loaded):
        module = sys.modules.get(name) if isinstance(name, str) else name
        unregister = getattr(module, "unregister", None)
        if unregister is None:
            continue
        try:
            unregister()
        except Exception:
            pass


def versions() -> dict[str, str]:
    """Versions of Blender and BlenderProc actually loaded."""
    import bpy

    bproc = import_blenderproc()
    return {"blender": bpy.app.version_string, "blenderproc": bproc.__version__}
