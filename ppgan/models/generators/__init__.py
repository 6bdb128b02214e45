from .occlusion_aware import OcclusionAwareGenerator  # noqa: F401
