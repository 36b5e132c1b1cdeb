#!/usr/bin/env python3
"""The grading script does what the kit promises, on one chapter.

    check_grade_script.py starters|solutions CHAPTER SOURCE_DIR BUILD_DIR

starters:  code/tools/grade_exercises.sh on the untouched starters exits 1,
           prints a FAIL block (with the failing check) for every exercise
           of CHAPTER and no build output among them; skipped (exit 77)
           when code/exercises has been edited. Also: a bad option exits 2.
solutions: with --exercises tests/solutions it exits 0, every exercise PASS.
Both: the summary has one line per exercise, five tab-separated columns.
The graders are built in BUILD_DIR (--build), not in the book's build/.
"""
import os
import re
import subprocess
import sys

mode, chapter, source, build = sys.argv[1:5]
script = os.path.join(source, "code", "tools", "grade_exercises.sh")
summary = os.path.join(build, "grades.tsv")
problems = []


def exercises():
    with open(os.path.join(source, "tests", "exercises",
                           "grade_%s.cpp" % chapter), encoding="utf-8") as f:
        text = f.read()
    return sorted(set(re.findall(r"\[(ex_\d+_\d+)\]", text)))


if mode == "starters":
    changed = subprocess.run(["git", "-C", source, "status", "--porcelain",
                              "--", "code/exercises"],
                             capture_output=True, text=True)
    if changed.returncode == 0 and changed.stdout.strip():
        print("code/exercises has been edited; this check is about the "
              "starter files as shipped: skipped")
        sys.exit(77)
    bad = subprocess.run(["sh", script, "--no-such-option"],
                         capture_output=True, text=True)
    if bad.returncode != 2:
        problems.append("a bad option exits %d, not 2" % bad.returncode)
    extra = []
    want_status, want_result = 1, "FAIL"
else:
    extra = ["--exercises", os.path.join(source, "tests", "solutions")]
    want_status, want_result = 0, "PASS"

if os.path.exists(summary):
    os.remove(summary)
run = subprocess.run(["sh", script, "--build", build] + extra + [chapter],
                     capture_output=True, text=True,
                     env=dict(os.environ, CMAKE_BUILD_PARALLEL_LEVEL="1"))
print(run.stdout[-6000:])
print(run.stderr[-2000:])
if run.returncode != want_status:
    problems.append("exit status %d, expected %d"
                    % (run.returncode, want_status))
tags = exercises()
blocks = re.findall(r"^(PASS|FAIL)  (Exercise \S+)", run.stdout, re.M)
if len(blocks) != len(tags) or any(r != want_result for r, _ in blocks):
    problems.append("expected %d lines '%s  Exercise ...', got %s"
                    % (len(tags), want_result, blocks))
if want_result == "FAIL" and run.stdout.count("      check:  ") < len(tags):
    problems.append("a FAIL block without its failing check")
if re.search(r"^\[ *\d+%\]|Building CXX|Linking CXX", run.stdout, re.M):
    problems.append("build output among the verdicts")
if "Summary, one line per exercise:" not in run.stdout:
    problems.append("the script does not say where the summary is")
try:
    with open(summary, encoding="utf-8") as f:
        rows = [line.rstrip("\n").split("\t") for line in f]
except OSError:
    rows = []
    problems.append("no summary at %s" % summary)
if sorted(r[1] for r in rows if len(r) > 1) != tags:
    problems.append("summary tags %s, expected %s"
                    % ([r[1] for r in rows if len(r) > 1], tags))
for r in rows:
    if len(r) != 5 or r[0] != chapter or r[3] != want_result:
        problems.append("summary line %r is not chapter, tag, name, %s, "
                        "check" % (r, want_result))
for p in problems:
    print("PROBLEM: " + p)
sys.exit(1 if problems else 0)
