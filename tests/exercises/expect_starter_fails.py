#!/usr/bin/env python3
"""A grader is honest only if it fails on the untouched starter file.

    expect_starter_fails.py GRADER TAG SOURCE_DIR

Runs the grader built from code/exercises on the one exercise TAG and
passes if Catch2 reports that exercise as failed (a failed assertion, not a
crash). If the starter files have been edited (a student at work, seen by
git), the check is skipped (exit 77): it is about the files as shipped.
"""
import subprocess
import sys

grader, tag, source = sys.argv[1:4]
changed = subprocess.run(["git", "-C", source, "status", "--porcelain", "--",
                          "code/exercises"], capture_output=True, text=True)
if changed.returncode == 0 and changed.stdout.strip():
    print("code/exercises has been edited; this check is about the starter "
          "files as shipped: skipped")
    sys.exit(77)
run = subprocess.run([grader, tag], capture_output=True, text=True)
print(run.stdout[-3000:])
if run.returncode < 0:
    print("the grader crashed (signal %d) instead of failing cleanly"
          % -run.returncode)
    sys.exit(1)
if run.returncode == 0:
    print("HONESTY FAILURE: the grader of %s passes on the untouched starter"
          % tag)
    sys.exit(1)
if "No test cases matched" in run.stdout or "test cases" not in run.stdout:
    print("the grader ran no test for %s" % tag)
    sys.exit(1)
print("ok: the grader of %s fails on the starter, as it must" % tag)
sys.exit(0)
