"""Project exceptions: each message says what was wrong and what to do about it."""


class PPGanError(Exception):
    """Base class of every error the project raises on purpose; CLIs print it and exit 2."""


class ConfigError(PPGanError):
    """A configuration file or override is malformed, has an unknown key or a bad value."""

    def __init__(self, message, key_path=None):
        self.key_path = key_path
        self.detail = message
        super().__init__(self._format())

    def _format(self):
        if self.key_path:
            return "config key '%s': %s" % (self.key_path, self.detail)
        return self.detail

    def with_prefix(self, prefix):
        """Return the same error with `prefix` prepended to its key path."""
        path = prefix if not self.key_path else "%s.%s" % (prefix, self.key_path)
        return ConfigError(self.detail, path)


class CheckpointError(PPGanError):
    """A weights file is missing, unreadable, unsafe, or does not fit the architecture."""


class InputError(PPGanError):
    """An input image or video cannot be used as given."""
