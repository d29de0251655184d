#!/usr/bin/env python3
"""Decides whether a failed ctest run failed only because LeakSanitizer's own tracer crashed.

LeakSanitizer stops every thread at exit to scan for leaks; now and then its tracer thread
dies of a segfault of its own ("Tracer caught signal 11" then "LeakSanitizer has encountered
a fatal error"), after the program did all its work and passed. It is a known, unreproducible
fault of the sanitizer runtime (google/sanitizers#1353 and others), not of the code tested.

Usage: sanitizer_flake.py BUILD_DIR
Exit 0 if every failed test of the last run shows that signature and none shows a leak report
or any other sanitizer report (then rerunning the failed tests once is fair); exit 1 otherwise,
saying which test failed for another reason.
"""
import pathlib
import re
import sys

TRACER = "LeakSanitizer has encountered a fatal error"
REAL = ("ERROR: LeakSanitizer: detected memory leaks", "ERROR: AddressSanitizer", "runtime error:",
        "WARNING: ThreadSanitizer", "SUMMARY: ")


def main() -> int:
    tmp = pathlib.Path(sys.argv[1]) / "Testing" / "Temporary"
    failed_file = tmp / "LastTestsFailed.log"
    if not failed_file.exists():
        print("no failed tests recorded", file=sys.stderr)
        return 1
    failed = [line.split(":", 1)[1].strip() for line in failed_file.read_text().splitlines() if ":" in line]
    log = (tmp / "LastTest.log").read_text(errors="replace")
    if not failed:
        return 1
    for name in failed:
        m = re.search(r"^\d+/\d+ Testing: " + re.escape(name) + r"\n(.*?)^\"" + re.escape(name) + r"\" end time:",
                      log, re.S | re.M)
        if not m:
            print(f"test {name}: its output is not in the log", file=sys.stderr)
            return 1
        out = m.group(1)
        if TRACER not in out:
            print(f"test {name} failed for a reason of its own", file=sys.stderr)
            return 1
        for r in REAL:
            if r in out:
                print(f"test {name}: a sanitizer report ({r!r}) besides the tracer crash", file=sys.stderr)
                return 1
    print("only LeakSanitizer's tracer crashed in: " + ", ".join(failed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
