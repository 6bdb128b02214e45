#!/usr/bin/env bash
# Make the tiny local data of a TIPC chain; nothing is downloaded.
#   bash test_tipc/prepare.sh test_tipc/configs/FOMM/train_infer_python.txt lite_train_lite_infer
# Writes synthetic cartoon-face videos (ppgan.datasets.synthetic: 8 training, 4 test videos of 16 frames,
# 64x64, each a folder of PNG frames) into the config's data_dir.
set -euo pipefail
FILENAME=${1:?usage: prepare.sh CONFIG_TXT MODE}
MODE=${2:?usage: prepare.sh CONFIG_TXT MODE}
cd "$(dirname "$0")/.."
source test_tipc/common_func.sh
case "$MODE" in
    lite_train_lite_infer|whole_infer) ;;
    *) echo "error: MODE must be lite_train_lite_infer or whole_infer, got '$MODE'" >&2; exit 2 ;;
esac
[ -f "$FILENAME" ] || { echo "error: config '$FILENAME' does not exist" >&2; exit 2; }
python=$(func_parser_value_of "$FILENAME" python)
data_dir=$(func_parser_value_of "$FILENAME" data_dir)
"$python" tools/make_synthetic_dataset.py --out "$data_dir" --size 64 --num-train 8 --num-test 4 \
    --num-frames 16 --format folder --seed 0 --force
