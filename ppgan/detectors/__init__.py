"""Detectors: face boxes and landmarks, face identity embeddings, body pose; registered plug-ins built by name.

One detector stack serves face cropping in the demo, dataset preparation from raw videos and the paper's
metrics (AKD, MKR, AED). Everything runs offline: faces by dlib (the `eval` extra; OpenCV's Haar cascade needs
nothing more), bodies by BlazePose, whose ONNX models ship in this package and run on ONNX Runtime. Libraries
are imported when a detector is built, not when this package is.
"""
from .base import (MISSING, NUM_FACE_LANDMARKS, OPENPOSE_18, Face, FaceDetector, FaceEmbedder,  # noqa: F401
                   PoseEstimator, largest_first, missing_points)
from .builder import (DEFAULT_FACE_DETECTOR, DEFAULT_POSE_ESTIMATOR, FACE_DETECTORS, FACE_EMBEDDERS,  # noqa: F401
                      POSE_ESTIMATORS, DetectorUnavailable, build_face_detector, build_face_embedder,
                      build_pose_estimator)
from . import haar, dlib_face, blazepose, face_alignment_detector  # noqa: F401,E402  (registers the classes)
