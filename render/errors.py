"""User-facing errors: the CLI prints them as one line and exits with code 2."""


class UserError(Exception):
    """Bad input (config, asset, CLI argument, dataset). The message is one line
    that names the problem and the field or file; no traceback is shown."""


class ConfigError(UserError):
    """A config file or override is invalid; the message names the YAML path."""


class DatasetError(UserError):
    """A dataset directory on disk is missing, unreadable or inconsistent."""
