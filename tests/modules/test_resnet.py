"""ppgan/modules/resnet.py: torchvision's ResNet18 layout, names and output."""
import numpy as np
import paddle

from ppgan.modules.resnet import ResNet18


def test_resnet18_names_shapes_and_size():
    net = ResNet18(in_features=6, num_outputs=7)
    state = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    assert state["conv1.weight"] == (64, 6, 7, 7)
    assert state["layer2.0.downsample.0.weight"] == (128, 64, 1, 1)
    assert "layer2.0.downsample.1._variance" in state and "layer1.0.downsample.0.weight" not in state
    assert state["fc.weight"] == (512, 7)  # Paddle's (in, out); the converter transposes PyTorch's (out, in)
    assert not [k for k in state if "bias" in k and "conv" in k]
    # torchvision's resnet18 has 11,689,512 parameters with a 1000-wide fc on 3 channels
    trainable = sum(int(np.prod(p.shape)) for p in ResNet18().parameters() if not p.stop_gradient)
    assert trainable == 11689512
    net.eval()
    out = net(paddle.rand([2, 6, 64, 64]))
    assert tuple(out.shape) == (2, 7)


def test_narrow_resnet18():
    net = ResNet18(in_features=3, num_outputs=5, block_expansion=16)
    state = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    assert state["conv1.weight"] == (16, 3, 7, 7) and state["layer4.1.conv2.weight"] == (128, 128, 3, 3)
    assert state["layer2.0.downsample.0.weight"] == (32, 16, 1, 1) and state["fc.weight"] == (128, 5)
    net.eval()
    assert tuple(net(paddle.rand([1, 3, 32, 32])).shape) == (1, 5)
