#!/usr/bin/python3
"""Runs the built graders exercise by exercise and reports what a student
needs: one block per exercise, and a summary file, one line per exercise.

    grade_report.py --summary FILE --xml-dir DIR \
        --chapter ch04 tests/exercises/grade_ch04.cpp build/grade_ch04 LOG ...

code/tools/grade_exercises.sh builds the graders and calls this script; a
chapter whose grader program is missing (its starter does not compile)
reports every exercise of its source file as FAIL, pointing at LOG.

Each exercise is run alone, by its tag ([ex_N_k]), with Catch2's XML
reporter written to a file in DIR: the failing check's expression, its
values, and the INFO messages in scope (the inputs the grader attached with
tests/exercises/kit.hpp, and hints, the messages that start with "hint: ").

The summary has no header; its columns, separated by tabs, are
    chapter  tag  name  result  first failing check
for example
    ch04  ex_4_6  Exercise 4.6: causal_mask aligned bottom-right  FAIL
          hand-worked: REQUIRE( got(i, j) == expected(i, j) ) with true == false
(on one line). result is PASS or FAIL; the last column is "-" for a pass.
Tabs and line breaks inside a field become spaces.

Exit status: 0 when every exercise passes, 1 when one fails, 2 on bad
arguments.
"""
import argparse
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

HINT = "hint: "
INDENT = "      "


def exercises_of(source):
    """(tag, name) of every exercise in a grader source: the TEST_CASEs
    tagged [ex_N_k] (or [ex_C_k], the capstone's). An exercise graded by
    several TEST_CASEs with the same tag is one exercise, named by the
    first; running its tag runs them all."""
    with open(source, encoding="utf-8") as f:
        text = f.read()
    found = []
    pattern = re.compile(
        r'TEST_CASE\s*\(\s*((?:"(?:[^"\\]|\\.)*"\s*)+),\s*"([^"]*)"')
    for m in pattern.finditer(text):
        name = "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(1)))
        tag = re.search(r"\[(ex_(?:\d+|C)_\d+)\]", m.group(2))
        if tag and tag.group(1) not in (t for t, _ in found):
            found.append((tag.group(1), name))
    return found


def message(element):
    """The text Catch2 wrote in an element, without the XML's indentation
    (Catch indents the first line only)."""
    lines = (element.text or "").split("\n")
    if lines and not lines[0].strip():
        lines = lines[1:]
    if lines and not lines[-1].strip():
        lines = lines[:-1]
    if lines:
        lines[0] = lines[0].lstrip()
    return "\n".join(line.rstrip() for line in lines)


def parse_tolerant(path):
    """The root of a Catch2 XML report, also when the grader crashed and
    the file stops in the middle."""
    parser = ET.XMLPullParser(events=("start",))
    root = None
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            parser.feed(f.read())
        for _, element in parser.read_events():
            if root is None:
                root = element
        parser.close()
    except ET.ParseError:
        for _, element in parser.read_events():
            if root is None:
                root = element
    except OSError:
        pass
    return root


def failures(element, sections=()):
    """Every failure under a TestCase, in order: a dict with the section
    path, the check, its values and the INFO messages in scope."""
    found = []
    infos = []
    for child in element:
        if child.tag == "Section":
            found += failures(child, sections + (child.get("name"),))
            infos = []
        elif child.tag == "Info":
            infos.append(message(child))
        elif child.tag == "Expression" and child.get("success") == "false":
            f = {"sections": sections, "type": child.get("type"),
                 "where": "%s:%s" % (child.get("filename"),
                                     child.get("line")),
                 "infos": infos, "original": "", "expanded": "",
                 "problem": ""}
            for part in child:
                if part.tag == "Original":
                    f["original"] = message(part)
                elif part.tag == "Expanded":
                    f["expanded"] = message(part)
                elif part.tag == "Exception":
                    f["problem"] = ("threw an exception the check did not "
                                    "expect: " + message(part))
                elif part.tag == "FatalErrorCondition":
                    f["problem"] = "crashed: " + message(part)
            if (not f["problem"] and "THROWS" in (f["type"] or "")
                    and f["expanded"] == f["original"]):
                f["problem"] = ("no exception was thrown, where the "
                                "exercise asks for one")
            found.append(f)
            infos = []
        elif child.tag in ("Exception", "FatalErrorCondition", "Failure"):
            what = {"Exception": "threw an exception: ",
                    "FatalErrorCondition": "crashed: ",
                    "Failure": "failed: "}[child.tag]
            found.append({"sections": sections, "type": "",
                          "where": "%s:%s" % (child.get("filename"),
                                              child.get("line")),
                          "infos": infos, "original": "", "expanded": "",
                          "problem": what + message(child)})
            infos = []
    return found


def relative(path, source_dir):
    try:
        rel = os.path.relpath(path, source_dir)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel


def check_text(f):
    if f["original"]:
        return "%s( %s )" % (f["type"], f["original"])
    return f["problem"]


def one_line(f):
    """A failure on one line, for the summary."""
    parts = []
    if f["sections"]:
        parts.append(" / ".join(f["sections"]) + ":")
    parts.append(check_text(f))
    if f["original"] and f["expanded"] and f["expanded"] != f["original"]:
        got, sep, rest = f["expanded"].partition(" is close to (")
        if sep and "\n" in rest:
            parts.append("- " + rest.rpartition("\n")[2])
        else:
            parts.append("with " + f["expanded"])
    if f["original"] and f["problem"]:
        parts.append("- " + f["problem"])
    hints = [i for i in f["infos"] if i.startswith(HINT)]
    if hints:
        parts.append("(" + hints[0] + ")")
    return clean(" ".join(parts))


def clean(text):
    text = re.sub(r"\s+", " ", text).strip()
    return text[:400] + " ..." if len(text) > 400 else text


def indented(text, prefix):
    return "\n".join(prefix + line for line in text.split("\n"))


def values(f):
    """The check's values: got and expected apart for IsCloseTo, else the
    expression with its values (Catch2's expansion)."""
    expanded = f["expanded"]
    if not f["original"] or not expanded or expanded == f["original"]:
        return []
    got, sep, rest = expanded.partition(" is close to (")
    if sep and "\n" in rest:
        tolerance, _, rest = rest.partition(")\n")
        expected, _, why = rest.rpartition("\n")
        out = [INDENT + "got:", indented(got, INDENT + "  "),
               INDENT + "expected (to rtol %s):" % tolerance.replace(
                   "rtol ", ""),
               indented(expected, INDENT + "  ")]
        if why:
            out.append(INDENT + why)
        return out
    return [INDENT + "values: " + indented(expanded, INDENT + "  ").lstrip()]


def block(f, others, source_dir):
    """The lines printed under a FAIL."""
    out = []
    if f["sections"]:
        out.append(INDENT + "case:   " + " / ".join(f["sections"]))
    out.append(INDENT + "check:  " + check_text(f))
    out.append(INDENT + "        at " + relative(f["where"], source_dir))
    if f["original"] and f["problem"]:
        out.append(INDENT + "        " + f["problem"])
    shown = values(f)
    if shown[:1] == [INDENT + "got:"] and any(
            "  |  got " in i for i in f["infos"]):
        # The grader shows expected | got itself, below: only say where
        # they first differ.
        shown = shown[4:]
    out += shown
    inputs = [i for i in f["infos"] if i and not i.startswith(HINT)]
    hints = [i for i in f["infos"] if i.startswith(HINT)]
    if inputs:
        out.append(INDENT + "with:")
    for text in inputs:
        out.append(indented(text, INDENT + "  "))
    for text in hints:
        out.append(indented(text, INDENT))
    for o in others[:3]:
        where = " / ".join(o["sections"]) or "the rest of the test"
        out.append(INDENT + "also failing: " + clean(where)
                   + "  (" + clean(check_text(o)) + ")")
    if len(others) > 3:
        out.append(INDENT + "and %d more failing checks" % (len(others) - 3))
    return out


def run_exercise(program, tag, xml_path, timeout):
    """(passed, first failure or None, [other failures], note)."""
    if os.path.exists(xml_path):
        os.remove(xml_path)
    try:
        run = subprocess.run([program, "[%s]" % tag, "-r", "xml",
                              "-o", xml_path, "--warn", "NoTests"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             timeout=timeout)
    except subprocess.TimeoutExpired:
        return False, None, [], ("did not finish within %d s (an endless "
                                 "loop?)" % timeout)
    root = parse_tolerant(xml_path)
    found = []
    case = None
    if root is not None:
        case = next(root.iter("TestCase"), None)
        if case is not None:
            found = failures(case)
    output = run.stdout.decode("utf-8", "replace").strip()
    if run.returncode < 0:
        note = "crashed (signal %d)" % -run.returncode
        if output:
            note += "; it printed:\n" + output[-800:]
        return False, (found[0] if found else None), found[1:], note
    if case is None:
        return False, None, [], ("the grader ran no test for [%s]: %s"
                                 % (tag, output[-400:] or "no output"))
    result = case.find("OverallResult")
    passed = (run.returncode == 0 and result is not None
              and result.get("success") == "true" and not found)
    if passed:
        return True, None, [], ""
    if not found:
        return False, None, [], ("failed without a failed check; it "
                                 "printed:\n" + output[-800:])
    return False, found[0], found[1:], ""


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--summary", required=True)
    p.add_argument("--xml-dir", required=True)
    p.add_argument("--source-dir", default=".")
    p.add_argument("--timeout", type=int, default=300)
    p.add_argument("--chapter", nargs=4, action="append", default=[],
                   metavar=("NAME", "SOURCE", "PROGRAM", "LOG"))
    args = p.parse_args()
    if not args.chapter:
        p.error("no --chapter given")

    os.makedirs(args.xml_dir, exist_ok=True)
    rows, passed, total = [], 0, 0
    for chapter, source, program, log in args.chapter:
        exercises = exercises_of(source)
        compiled = os.access(program, os.X_OK)
        for tag, name in exercises:
            total += 1
            if not compiled:
                why = "does not compile: see %s" % log
                print("FAIL  %s\n%s%s\n" % (name, INDENT, why))
                rows.append((chapter, tag, name, "FAIL", why))
                continue
            xml_path = os.path.join(args.xml_dir,
                                    "%s.%s.xml" % (chapter, tag))
            ok, first, others, note = run_exercise(program, tag, xml_path,
                                                   args.timeout)
            if ok:
                passed += 1
                print("PASS  %s" % name)
                rows.append((chapter, tag, name, "PASS", "-"))
                continue
            lines = ["FAIL  %s" % name]
            if note:
                lines.append(indented(note, INDENT))
            if first is not None:
                lines += block(first, others, args.source_dir)
            print("\n".join(lines) + "\n")
            summary = one_line(first) if first is not None else clean(note)
            rows.append((chapter, tag, name, "FAIL", summary))
        sys.stdout.flush()

    os.makedirs(os.path.dirname(os.path.abspath(args.summary)),
                exist_ok=True)
    with open(args.summary, "w", encoding="utf-8") as f:
        for row in rows:
            f.write("\t".join(clean(c) for c in row) + "\n")
    print("%d of %d exercises pass" % (passed, total))
    print("Summary, one line per exercise: %s" % args.summary)
    return 0 if passed == total and total > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
