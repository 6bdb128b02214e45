"""Name -> class registries; a config dict's `name` picks the class, the rest are its arguments."""
import difflib
import inspect

from .errors import ConfigError


class Registry:
    """A named table of classes, filled by the `register()` decorator."""

    def __init__(self, name):
        self.name = name
        self._classes = {}

    def register(self, name=None):
        """Decorator adding a class under `name` (default: the class name)."""
        def deco(cls):
            key = name or cls.__name__
            if key in self._classes:
                raise KeyError("%s already registered in %s" % (key, self.name))
            self._classes[key] = cls
            return cls
        return deco

    def __contains__(self, name):
        return name in self._classes

    def names(self):
        return sorted(self._classes)

    def get(self, name):
        """Return the class registered as `name` or raise a ConfigError listing the choices."""
        if name not in self._classes:
            hint = difflib.get_close_matches(str(name), self._classes, n=1)
            msg = "unknown %s '%s'; choose one of: %s" % (self.name, name, ", ".join(self.names()))
            if hint:
                msg += " (did you mean '%s'?)" % hint[0]
            raise ConfigError(msg, "name")
        return self._classes[name]

    def build(self, cfg, **given):
        """Instantiate `cfg['name']` with the other keys of `cfg` plus `given` (set by the caller).

        Unknown keys are an error naming the key; so are keys the caller sets itself.
        """
        if not isinstance(cfg, dict):
            raise ConfigError("expected a mapping with a 'name' key, got %r" % (cfg,))
        if "name" not in cfg:
            raise ConfigError("missing 'name'; choose one of: %s" % ", ".join(self.names()), "name")
        cls = self.get(cfg["name"])
        kwargs = {k: v for k, v in cfg.items() if k != "name"}
        check_arguments(cls, kwargs, given)
        kwargs.update(given)
        try:
            return cls(**kwargs)
        except ConfigError:
            raise
        except (TypeError, ValueError) as e:
            raise ConfigError("cannot build %s: %s" % (cfg["name"], e)) from e


def check_arguments(cls, kwargs, given=()):
    """Raise ConfigError for keys of `kwargs` that `cls.__init__` does not take or that are set by code."""
    params = inspect.signature(cls.__init__).parameters
    accepted = [p for p in params if p not in ("self", "args", "kwargs")]
    for key in kwargs:
        if key in given:
            raise ConfigError("is set by the program for %s and must not appear in the config"
                              % cls.__name__, key)
        if key not in accepted:
            hint = difflib.get_close_matches(key, accepted, n=1)
            msg = "unknown key for %s; accepted keys: %s" % (
                cls.__name__, ", ".join(a for a in accepted if a not in given))
            if hint:
                msg += " (did you mean '%s'?)" % hint[0]
            raise ConfigError(msg, key)
