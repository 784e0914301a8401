#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Golden test: run tcptriage on one capture and compare its whole output
with the checked-in expectation, byte for byte.

usage: run_golden.py BIN CAPTURE GOLDEN FORMAT [extra tcptriage args...]
With UPDATE_GOLDEN=1 in the environment the expectation is rewritten instead.
Exit 0 when equal, 1 with a unified diff when not.
"""
import difflib
import os
import subprocess
import sys


def main():
    binary, capture, golden, fmt = sys.argv[1:5]
    extra = sys.argv[5:]
    cmd = os.environ.get("TCPTRIAGE_WRAPPER", "").split() + [binary, "--format", fmt, "-r", capture] + extra
    proc = subprocess.run(cmd, capture_output=True, timeout=120)
    if proc.returncode not in (0, 1):
        print(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr.decode(errors='replace')}")
        return 1
    # The source path is part of the output; make it independent of the build dir.
    out = proc.stdout.decode().replace(capture, os.path.basename(capture))
    if os.environ.get("UPDATE_GOLDEN") == "1":
        with open(golden, "w") as fh:
            fh.write(out)
        print(f"updated {golden}")
        return 0
    try:
        with open(golden) as fh:
            want = fh.read()
    except FileNotFoundError:
        print(f"no golden file {golden}; run scripts/update-golden")
        return 1
    if out == want:
        print(f"ok {os.path.basename(golden)}")
        return 0
    sys.stdout.writelines(difflib.unified_diff(want.splitlines(True), out.splitlines(True),
                                               golden, "actual"))
    return 1


if __name__ == "__main__":
    sys.exit(main())
