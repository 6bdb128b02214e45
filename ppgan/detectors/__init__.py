"""Detectors: face boxes and landmarks, face identity embeddings, body pose, and face enhancers; registered
plug-ins built by name.

One detector stack serves face cropping in the demo, dataset preparation from raw videos and the paper's
metrics (AKD, MKR, AED). Everything runs offline: faces by dlib (the `eval` extra; OpenCV's Haar cascade needs
nothing more), bodies by BlazePose, whose ONNX models ship in this package and run on ONNX Runtime; face crops
are restored by GPEN (PaddleGAN's weights, read from a path). Libraries are imported when a detector is built, not
when this package is.
"""
from .base import (MISSING, NUM_FACE_LANDMARKS, OPENPOSE_18, Face, FaceDetector, FaceEmbedder,  # noqa: F401
                   FaceEnhancer, PoseEstimator, largest_first, missing_points)
from .builder import (DEFAULT_FACE_DETECTOR, DEFAULT_FACE_ENHANCER, DEFAULT_POSE_ESTIMATOR,  # noqa: F401
                      FACE_DETECTORS, FACE_EMBEDDERS, FACE_ENHANCERS, POSE_ESTIMATORS, DetectorUnavailable,
                      build_face_detector, build_face_embedder, build_face_enhancer, build_pose_estimator,
                      face_detector_config)
# importing a plug-in's module registers its classes
from . import haar, dlib_face, blazepose, face_alignment_detector, gpen_enhancer  # noqa: F401,E402
from .gpen_enhancer import GPENEnhancer, gpen_weights  # noqa: F401,E402
