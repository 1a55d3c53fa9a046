#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Count test results from meson's testlog.json files.

TAP tests count one per "ok"/"not ok" line; other tests count once.
Prints "N passed, N failed, N skipped" and exits 1 if anything failed.
"""
import json
import re
import sys

passed = failed = skipped = 0
for path in sys.argv[1:]:
    try:
        lines = open(path).read().splitlines()
    except OSError:
        print("summary: missing %s" % path)
        failed += 1
        continue
    for line in lines:
        t = json.loads(line)
        tap = [l for l in (t.get("stdout") or "").splitlines()
               if re.match(r"^(not )?ok\b", l)]
        if tap:
            for l in tap:
                if "# SKIP" in l:
                    skipped += 1
                elif l.startswith("not ok"):
                    failed += 1
                else:
                    passed += 1
            if t["result"] not in ("OK", "SKIP") and not any(
                    l.startswith("not ok") for l in tap):
                failed += 1  # crashed or timed out after its last line
        elif t["result"] == "SKIP":
            skipped += 1
        elif t["result"] in ("OK", "EXPECTEDFAIL"):
            passed += 1
        else:
            failed += 1
print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
sys.exit(1 if failed or not passed else 0)
