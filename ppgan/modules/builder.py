"""Registries of the building-block networks (backbones, keypoint detectors, dense motion nets, and the
thin-plate spline model's background motion predictors and AVD networks)."""
from ppgan.utils.registry import Registry

BACKBONES = Registry("backbone")
KP_DETECTORS = Registry("keypoint detector")
DENSE_MOTIONS = Registry("dense motion network")
BG_PREDICTORS = Registry("background motion predictor")
AVD_NETWORKS = Registry("AVD network")
