"""How reproducible is the TPSMM fixture's recording? Runs the original (yoyo-nb/Thin-Plate-Spline-Motion-Model)
in PyTorch on ../shared/parity-tpsmm/tpsmm-vox and prints (1) the re-run's distance from its own recorded
arrays, (2) how far an equally valid float32 rounding of its keypoints (its detector run in float64, then
rounded) moves its outputs. tests/test_parity_tpsmm.py's RECORDING_NOISE comes from (1).

Not a test: it needs PyTorch (pip install torch==2.13.0) and the original's modules/ folder, e.g.
    git -C <checkout> archive HEAD modules | tar x -C /tmp/tpsmm_orig
    python tests/data/tpsmm_recording_noise.py /tmp/tpsmm_orig ../shared/parity-tpsmm/tpsmm-vox
torchvision is not needed: a ResNet18 with torchvision's layout stands in for torchvision.models.resnet18.
"""
import sys
import types

import numpy as np
import torch
import torch.nn as nn
import yaml


class _Block(nn.Module):
    def __init__(self, in_features, out_features, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(in_features, out_features, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_features)
        self.conv2 = nn.Conv2d(out_features, out_features, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_features)
        self.downsample = None
        if stride != 1 or in_features != out_features:
            self.downsample = nn.Sequential(nn.Conv2d(in_features, out_features, 1, stride, bias=False),
                                            nn.BatchNorm2d(out_features))

    def forward(self, x):
        out = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        return torch.relu(out + (x if self.downsample is None else self.downsample(x)))


class _ResNet18(nn.Module):
    """torchvision's resnet18 layout and names (conv1, bn1, layer1..4, fc)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        previous = 64
        for i, width in enumerate([64, 128, 256, 512]):
            setattr(self, "layer%d" % (i + 1), nn.Sequential(_Block(previous, width, 1 if i == 0 else 2),
                                                             _Block(width, width, 1)))
            previous = width
        self.fc = nn.Linear(512, 1000)

    def forward(self, x):
        x = nn.functional.max_pool2d(torch.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


def main(original, fixture):
    models = types.ModuleType("torchvision.models")
    models.resnet18 = lambda pretrained=False: _ResNet18()
    sys.modules["torchvision"] = types.ModuleType("torchvision")
    sys.modules["torchvision"].models = models
    sys.modules["torchvision.models"] = models
    sys.path.insert(0, original)
    from modules.dense_motion import DenseMotionNetwork
    from modules.inpainting_network import InpaintingNetwork
    from modules.keypoint_detector import KPDetector

    params = yaml.safe_load(open(fixture + "/config.yaml"))["model_params"]
    checkpoint = torch.load(fixture + "/checkpoint.pth.tar", map_location="cpu")
    io = np.load(fixture + "/io.npz")
    detector = KPDetector(**params["common_params"])
    dense_motion = DenseMotionNetwork(**params["common_params"], **params["dense_motion_params"])
    inpainting = InpaintingNetwork(**params["generator_params"], **params["common_params"])
    for net, name in ((detector, "kp_detector"), (dense_motion, "dense_motion_network"),
                      (inpainting, "inpainting_network")):
        net.load_state_dict(checkpoint[name])
        net.eval()
    source, driving = torch.tensor(io["source"]), torch.tensor(io["driving"])

    with torch.no_grad():
        kp = {"source": detector(source), "driving": detector(driving)}
        detector.double()
        kp64 = {name: {"fg_kp": detector(image.double())["fg_kp"].float()}
                for name, image in (("source", source), ("driving", driving))}
        rerun = inpainting(source, dense_motion(source, kp["driving"], kp["source"]))
        rounded = inpainting(source, dense_motion(source, kp64["driving"], kp64["source"]))
    print("re-run keypoints vs recorded: %.3g" % np.abs(kp["source"]["fg_kp"].numpy()
                                                        - io["eval/kp_source/fg_kp"]).max())
    print("float32 detector vs float64 detector rounded: %.3g"
          % (kp["source"]["fg_kp"] - kp64["source"]["fg_kp"]).abs().max().item())
    prefix = "eval/dense_motion/inpainting/"
    names = ["prediction", "deformed"] + ["warped_encoder_maps/%d" % i for i in range(4)]
    for name in names:
        ours = rerun[name] if "/" not in name else rerun["warped_encoder_maps"][int(name[-1])]
        other = rounded[name] if "/" not in name else rounded["warped_encoder_maps"][int(name[-1])]
        print("%-24s re-run vs recorded %.3g   keypoints rounded otherwise %.3g"
              % (name, np.abs(ours.numpy() - io[prefix + name]).max(), (ours - other).abs().max().item()))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
