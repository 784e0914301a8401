#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Score tcptriage on the shared corpus (../shared/captures/SET) with the
shared scorer, and fail if the score drops below the level reached.
Skips (exit 77, meson's skip code) when ../shared is absent.

usage: shared_score.py BIN SHARED_DIR SET MIN_PERCENT
"""
import os
import subprocess
import sys


def main():
    binary, shared, name, minimum = sys.argv[1:5]
    score = os.path.join(shared, "tools", "score")
    corpus = os.path.join(shared, "captures", name)
    if not (os.path.isfile(score) and os.path.isdir(corpus)):
        print(f"skip: {corpus} not present")
        return 77
    proc = subprocess.run([sys.executable, score, "--bin", binary, "--min-accuracy", minimum,
                           "-v", corpus], capture_output=True, text=True, timeout=600)
    print(proc.stdout)
    print(proc.stderr, file=sys.stderr)
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
