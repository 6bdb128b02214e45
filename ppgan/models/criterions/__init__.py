"""Training losses of the first order motion model (paper, Sec. 3.4 and appendix)."""
from .perceptual import (Vgg19, GradientPyramidLoss, PerceptualPyramidLoss, PixelPyramidLoss,  # noqa: F401
                         RegionPyramidLoss, image_gradients, load_vgg19_weights)  # noqa: F401
from .gan import lsgan_generator_loss, lsgan_discriminator_loss, feature_matching_loss  # noqa: F401
from .equivariance import equivariance_value_loss, equivariance_jacobian_loss  # noqa: F401
