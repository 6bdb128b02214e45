from .multiscale import MultiScaleDiscriminator  # noqa: F401
