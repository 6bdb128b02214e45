"""Registries of the building-block networks (backbones, keypoint detectors, dense motion nets)."""
from ppgan.utils.registry import Registry

BACKBONES = Registry("backbone")
KP_DETECTORS = Registry("keypoint detector")
DENSE_MOTIONS = Registry("dense motion network")
