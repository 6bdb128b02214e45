#!/usr/bin/env bash
# Helpers shared by the TIPC scripts: reading "key:value" lines of a train_infer_python.txt.

# the value of KEY in FILE (everything after the first ':'), or empty
func_parser_value_of() {
    local file=$1 key=$2
    grep -m1 "^${key}:" "$file" | cut -d: -f2-
}

# print what ran and whether it succeeded, in PaddleGAN's wording; a failure ends the chain
status_check() {
    local code=$1 command=$2 log=$3
    if [ "$code" -eq 0 ]; then
        echo -e "\033[33m Run successfully with command - ${command}! \033[0m" | tee -a "$log"
    else
        echo -e "\033[33m Run failed with command - ${command}! \033[0m" | tee -a "$log"
        exit 1
    fi
}
