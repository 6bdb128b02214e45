from .occlusion_aware import OcclusionAwareGenerator  # noqa: F401
from .mobile import MobileOcclusionAwareGenerator  # noqa: F401
from .inpainting import InpaintingNetwork, TPSAnimator  # noqa: F401
