"""User-facing errors: the CLI prints them as one line and exits with code 2."""


class UserError(Exception):
    """Bad input (config, asset, CLI argument, dataset). The message is one line
    that names the problem and the field or file; no traceback is shown."""


class ConfigError(UserError):
    """A config file or override is invalid; the message names the YAML path."""


class DatasetError(UserError):
    """A dataset directory on disk is missing, unreadable or inconsistent."""


class RenderError(RuntimeError):
    """The renderer cannot build or render what a SceneSpec asks for.

    Defined here, not in ``render/blender/``: a worker sends it back to the driver
    pickled, and unpickling must not import Blender into the driver process."""
