#!/usr/bin/env python
"""Convert a PyTorch First Order Motion Model (e.g. vox-cpk.pth.tar) or Thin-Plate Spline Motion Model (e.g.
vox.pth.tar) checkpoint to Paddle .pdparams."""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ppgan.utils.cli import quiet_warnings, run  # noqa: E402

quiet_warnings()


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Convert a PyTorch checkpoint (legacy or zip torch.save format) to a Paddle .pdparams file: "
                    "FOMM's 'kp_detector', 'generator', 'discriminator', or TPSMM's 'kp_detector', "
                    "'dense_motion_network', 'inpainting_network', 'bg_predictor', 'avd_network' state dicts. "
                    "PyTorch is not needed: the file is read without unpickling arbitrary objects.")
    parser.add_argument("--input", required=True, help="the PyTorch checkpoint, e.g. vox-cpk.pth.tar")
    parser.add_argument("--output", required=True, help="where to write the .pdparams file (written atomically)")
    parser.add_argument("--config", default=None,
                        help="a config (configs/*.yaml, or an original FOMM or TPSMM config); if given, every tensor's "
                             "name and shape is checked against that architecture and all mismatches are listed")
    parser.add_argument("--with-optimizers", action="store_true",
                        help="also keep the optimizer states and the epoch (as numpy, PyTorch layout)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from ppgan.convert import convert
    from ppgan.utils.checkpoint import NET_NAMES
    from ppgan.utils.logger import get_logger
    weights = convert(args.input, args.output, config=args.config, include_optimizers=args.with_optimizers)
    log = get_logger("ppgan.convert")
    for name in NET_NAMES:
        if name in weights:
            log.info("%s: %d tensors", name, len(weights[name]))
    log.info("wrote %s%s", args.output, " (checked against %s)" % args.config if args.config else "")
    return 0


if __name__ == "__main__":
    run(main)
