#!/usr/bin/env python3
"""Summarise `go test -json` for scripts/test.sh.

Reads the JSON events on standard input and prints what a plain `go test` prints (one line per
package, and the whole output of failing tests and packages), then one count line:

    go test ./...: 1234 passed, 0 failed, 12 skipped (45 packages ok, 0 failed, 3 without tests)

The count line is also appended to the file named by the second argument, so that test.sh can
repeat every run's counts at its end. The exit status is go test's (test.sh runs this under
pipefail), and this script too exits 1 when a test or a package failed.
Counts include subtests.

    go test -json ./... | scripts/testsum.py LABEL [COUNTS_FILE]
"""
import json
import sys

NOISE = ("=== RUN", "=== PAUSE", "=== CONT", "=== NAME")


def main():
    label = sys.argv[1] if len(sys.argv) > 1 else "go test"
    counts = {"pass": 0, "fail": 0, "skip": 0}
    pkgs = {"ok": 0, "fail": 0, "none": 0}
    buf = {}  # (package, test or None) -> output lines, until the test or package ends
    out = sys.stdout
    for line in sys.stdin:
        try:
            ev = json.loads(line)
        except ValueError:
            out.write(line)  # not an event: a message of go itself
            continue
        action, pkg, test = ev.get("Action"), ev.get("Package", ""), ev.get("Test")
        if action == "build-output":
            out.write(ev.get("Output", ""))
            continue
        if action == "output":
            buf.setdefault((pkg, test), []).append(ev.get("Output", ""))
            continue
        if action not in counts:
            continue
        lines = buf.pop((pkg, test), [])
        if test:
            counts[action] += 1
            if action == "fail":
                out.writelines(l for l in lines if not l.startswith(NOISE))
            continue
        if action == "fail":
            pkgs["fail"] += 1
            out.writelines(l for l in lines if not l.startswith(NOISE))
            if not lines:
                out.write("FAIL\t%s\n" % pkg)
        else:
            pkgs["ok" if action == "pass" else "none"] += 1
            # The package's own result line ("ok  pkg 1.2s", "?  pkg [no test files]").
            out.writelines(l for l in lines if l.startswith(("ok", "?")))
        out.flush()
    summary = "%s: %d passed, %d failed, %d skipped (%d packages ok, %d failed, %d without tests)\n" % (
        label, counts["pass"], counts["fail"], counts["skip"], pkgs["ok"], pkgs["fail"], pkgs["none"])
    out.write(summary)
    if len(sys.argv) > 2:
        with open(sys.argv[2], "a") as f:
            f.write(summary)
    return 1 if counts["fail"] or pkgs["fail"] else 0


if __name__ == "__main__":
    sys.exit(main())
