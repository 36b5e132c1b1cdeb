#!/usr/bin/env python3
"""The book's own check: the text and the tested code cannot drift apart.

    book_check.py ROOT               check the book in ROOT; exit 1 on a fault
    book_check.py --self-test ROOT   plant faults in copies of ROOT and prove
                                     that the check finds each one

What it checks, for chapters/*.md, code/ and tests/:
1. every displayed equation (\\f[ ... \\f]) has \\anchor eq_<slug> right
   before it and a visible number \\tag{N.k} whose N is the chapter's;
2. every \\anchor eq_<slug> has at least one Catch2 test tagged [eq_<slug>];
3. every [eq_<slug>] tag in tests/ names an anchor that exists;
4. every // [tag] marker in code/ and tests/ (# [tag] in scripts) stands
   exactly twice in its file and is used by a \\snippet in some chapter, and
   every \\snippet names a marker that exists;
5. no chapter holds a pasted C++ block (\\code, a fenced block, or an
   indented block that looks like C++);
6. no test name holds ';', '[' or ']' (CMake and Catch2 would split it into
   ctest entries that run nothing), and every test name a chapter quotes in
   backticks ("`Eq. 1.2: ...`") is the name, or the beginning of the names,
   of test cases;
7. every C++ snippet (the lines between a pair of markers) has balanced
   braces, so that no snippet stops inside a function;
8. every library header (code/attention/*.hpp) names its chapter in its
   \\file brief (\\ref chNN_...), and a chapter's header or program
   includes only headers of its own or an earlier chapter, so that each
   chapter's code stands on the chapters before it.
"""
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

ANCHOR = re.compile(r"\\anchor\s+(eq_[A-Za-z0-9_]+)")
# A name may be split into adjacent string literals; group 1 is the name's
# literals, group 2 the tags.
TEST_CASE = re.compile(r"TEST_CASE\s*\(\s*((?:\"(?:[^\"\\]|\\.)*\"\s*)+),"
                       r"\s*\"([^\"]*)\"")
LITERAL = re.compile(r"\"((?:[^\"\\]|\\.)*)\"")
QUOTED_TEST = re.compile(r"`(Eq\. \d+\.\d+: [^`]*)`")
TAG = re.compile(r"\[(eq_[A-Za-z0-9_]+)\]")
MARKER = re.compile(r"^\s*(?://|#)\s*\[([a-z0-9][a-z0-9-]*)\]\s*$")
SNIPPET = re.compile(r"\\snippet(?:doc|lineno)?(?:\{[^}]*\})?\s+(\S+)\s+(\S+)")
CPP_HINT = re.compile(r"(#include|std::|xt::|attn::|;\s*$|\)\s*\{\s*$|^\s*\}\s*$)")
CHAPTER_FILE = re.compile(r"^(\d\d)_.*\.md$")
FILE_BRIEF = re.compile(r"\\file\s*\n///\s*\\brief(.*?)(?:\n(?!///)|\n///\s*\n)",
                        re.S)
CHAPTER_REF = re.compile(r"\\ref\s+ch(\d\d)_")
INCLUDE = re.compile(r'^#include\s+"attention/([A-Za-z0-9_]+\.hpp)"', re.M)
PROGRAM_FILE = re.compile(r"^ch(\d\d)_.*\.cpp$")


CODE_NOISE = re.compile(r"//.*$|\"(?:[^\"\\\\]|\\\\.)*\"|'(?:[^'\\\\]|\\\\.)'")


def brace_faults(root):
    """Check 7: the braces of each C++ snippet balance (strings, character
    literals and comments aside)."""
    faults = []
    for path in source_files(root):
        if path.suffix not in (".hpp", ".cpp", ".h"):
            continue
        open_at = {}
        depth = {}
        for number, line in enumerate(
                path.read_text(encoding="utf-8").split("\n"), 1):
            match = MARKER.match(line)
            if match:
                tag = match.group(1)
                if tag in open_at:
                    if depth[tag] != 0:
                        faults.append(
                            "%s:%d: snippet [%s] has %d unclosed brace(s): "
                            "a snippet must be a whole function or step"
                            % (path.relative_to(root), open_at[tag], tag,
                               depth[tag]))
                    del open_at[tag]
                else:
                    open_at[tag], depth[tag] = number, 0
                continue
            code = CODE_NOISE.sub("", line)
            for tag in open_at:
                depth[tag] += code.count("{") - code.count("}")
    return faults


def header_chapters(root):
    """{header name: chapter number} from each header's \\file brief;
    None where the brief names no chapter."""
    found = {}
    for path in sorted((root / "code" / "attention").glob("*.hpp")):
        brief = FILE_BRIEF.search(path.read_text(encoding="utf-8"))
        ref = CHAPTER_REF.search(brief.group(1)) if brief else None
        found[path.name] = int(ref.group(1)) if ref else None
    return found


def include_faults(root):
    """Check 7: no header or program includes a later chapter's header."""
    faults = []
    chapter_of = header_chapters(root)
    users = [(p, chapter_of[p.name]) for p in
             sorted((root / "code" / "attention").glob("*.hpp"))]
    for path in sorted((root / "code").glob("ch*.cpp")):
        match = PROGRAM_FILE.match(path.name)
        if match:
            users.append((path, int(match.group(1))))
    for path, chapter in users:
        rel = path.relative_to(root)
        if chapter is None:
            faults.append("%s: its \\file brief names no chapter "
                          "(\\ref chNN_...)" % rel)
            continue
        for name in INCLUDE.findall(path.read_text(encoding="utf-8")):
            used = chapter_of.get(name)
            if used is not None and used > chapter:
                faults.append("%s (chapter %d) includes attention/%s of the "
                              "later chapter %d" % (rel, chapter, name, used))
    return faults


def source_files(root):
    for folder in ("code", "tests"):
        for path in sorted((root / folder).rglob("*")):
            if path.is_file() and path.suffix in (".hpp", ".cpp", ".h", ".py",
                                                  ".cmake", ".sh", ".gp"):
                yield path


def check(root):
    """Returns the list of faults found in the book at root."""
    root = pathlib.Path(root)
    faults = []
    chapters = sorted((root / "chapters").glob("*.md"))
    anchors = {}
    snippets = []
    for path in chapters:
        text = path.read_text(encoding="utf-8")
        rel = path.relative_to(root)
        lines = text.split("\n")
        number = CHAPTER_FILE.match(path.name)
        # 1. displayed equations: anchor right before, a tag of this chapter
        for i, line in enumerate(lines):
            if line.strip().startswith("\\f["):
                before = next((l for l in reversed(lines[:i]) if l.strip()), "")
                if not ANCHOR.search(before):
                    faults.append("%s:%d: displayed equation without "
                                  "\\anchor eq_... on the line before it"
                                  % (rel, i + 1))
                end = next((j for j in range(i, len(lines))
                            if "\\f]" in lines[j]), len(lines) - 1)
                body = "\n".join(lines[i:end + 1])
                tag = re.search(r"\\tag\{(\d+)\.(\d+)\}", body)
                if not tag:
                    faults.append("%s:%d: displayed equation without a "
                                  "number \\tag{N.k}" % (rel, i + 1))
                elif number and int(tag.group(1)) != int(number.group(1)):
                    faults.append("%s:%d: equation number %s.%s in chapter %d"
                                  % (rel, i + 1, tag.group(1), tag.group(2),
                                     int(number.group(1))))
        for i, line in enumerate(lines):
            for name in ANCHOR.findall(line):
                if name in anchors:
                    faults.append("%s:%d: anchor %s defined twice"
                                  % (rel, i + 1, name))
                anchors[name] = "%s:%d" % (rel, i + 1)
            for file, tag in SNIPPET.findall(line):
                snippets.append((file, tag, "%s:%d" % (rel, i + 1)))
        # 5. no pasted C++
        in_fence = False
        for i, line in enumerate(lines):
            stripped = line.strip()
            if stripped.startswith("\\code"):
                faults.append("%s:%d: \\code block in a chapter: pull code "
                              "with \\snippet instead" % (rel, i + 1))
            if stripped.startswith("```") or stripped.startswith("~~~"):
                if not in_fence and re.search(r"(cpp|c\+\+|\{\.c)", stripped,
                                              re.I):
                    faults.append("%s:%d: C++ code block in a chapter: pull "
                                  "code with \\snippet instead" % (rel, i + 1))
                in_fence = not in_fence
                continue
            if (in_fence or line.startswith("    ")) and CPP_HINT.search(line) \
                    and not stripped.startswith("$"):
                faults.append("%s:%d: pasted C++ in a chapter: pull code with "
                              "\\snippet instead: %s" % (rel, i + 1, stripped))

    # 2 and 3: anchors and test tags
    tags = {}
    test_names = set()
    for path in sorted((root / "tests").glob("*.cpp")):
        text = path.read_text(encoding="utf-8")
        for match in TEST_CASE.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            where = "%s:%d" % (path.relative_to(root), line)
            name = "".join(LITERAL.findall(match.group(1)))
            name = name.replace('\\"', '"').replace("\\\\", "\\")
            test_names.add(name)
            bad = sorted(set(name) & set(";[]"))
            if bad:
                faults.append("%s: test name %r holds %s: ctest would run "
                              "nothing for it" % (where, name,
                                                  " ".join(bad)))
            for tag in TAG.findall(match.group(2)):
                tags.setdefault(tag, where)
    for name, where in sorted(anchors.items()):
        if name not in tags:
            faults.append("%s: equation anchor %s has no test tagged [%s]"
                          % (where, name, name))
    for tag, where in sorted(tags.items()):
        if tag not in anchors:
            faults.append("%s: test tag [%s] names no \\anchor in chapters/"
                          % (where, tag))

    # 6. test names quoted in the chapters exist
    for path in chapters:
        rel = path.relative_to(root)
        for i, line in enumerate(path.read_text(encoding="utf-8").split("\n")):
            for name in QUOTED_TEST.findall(line):
                # A chapter may name a group of tests by their common
                # beginning ("`Eq. 0.1: row softmax`", "`Eq. 2.6: ... ...`").
                stem = name[:-3].rstrip() if name.endswith("...") else name
                if not any(t.startswith(stem) for t in test_names):
                    faults.append("%s:%d: the chapter quotes a test %r that "
                                  "no TEST_CASE in tests/ is named"
                                  % (rel, i + 1, name))

    # 4. snippet markers
    markers = {}
    for path in source_files(root):
        counts = {}
        for line in path.read_text(encoding="utf-8").split("\n"):
            match = MARKER.match(line)
            if match:
                counts[match.group(1)] = counts.get(match.group(1), 0) + 1
        rel = path.relative_to(root)
        for tag, count in counts.items():
            if count != 2:
                faults.append("%s: marker [%s] stands %d times, expected 2"
                              % (rel, tag, count))
            markers[(path, tag)] = rel
    used = set()
    for file, tag, where in snippets:
        hits = [key for key in markers
                if key[1] == tag and key[0].as_posix().endswith("/" + file)]
        if not hits:
            if not (file.endswith(".md") or file.endswith(".txt")):
                faults.append("%s: \\snippet %s %s: no such marker in code/ "
                              "or tests/" % (where, file, tag))
        used.update(hits)
    for key, rel in sorted(markers.items(), key=lambda kv: str(kv[1])):
        if key not in used:
            faults.append("%s: marker [%s] is used by no \\snippet in "
                          "chapters/" % (rel, key[1]))
    # 7. C++ snippets are whole: their braces balance
    faults += brace_faults(root)
    # 8. includes follow the chapters
    faults += include_faults(root)
    return faults


def run(root):
    faults = check(root)
    for fault in faults:
        print(fault)
    if faults:
        print("book check: %d fault(s)" % len(faults))
        return 1
    print("book check: passed")
    return 0


# ------------------------------------------------------------ self test
def plant(root, path, old, new, count=1):
    file = root / path
    text = file.read_text(encoding="utf-8")
    if old not in text:
        raise SystemExit("self-test: cannot plant fault, %r not in %s"
                         % (old, path))
    file.write_text(text.replace(old, new, count), encoding="utf-8")


def self_test(root):
    root = pathlib.Path(root)
    first_anchor = ANCHOR.search(
        (root / "chapters/00_introduction.md").read_text(encoding="utf-8"))
    name = first_anchor.group(1)
    planted = [
        ("a test's [eq_*] tag deleted",
         lambda r: [plant(r, p, "[%s]" % name, "", -1)
                    for p in ["tests/" + f.name
                              for f in (r / "tests").glob("*.cpp")]
                    if "[%s]" % name in (r / p).read_text()],
         "has no test tagged [%s]" % name),
        ("a test tag naming no anchor",
         lambda r: plant(r, "tests/test_ch00_introduction.cpp",
                         "[ch00][eq_softmax]", "[ch00][eq_softmax][eq_nowhere]"),
         "test tag [eq_nowhere] names no"),
        ("an equation without anchor",
         lambda r: plant(r, "chapters/00_introduction.md",
                         "\\anchor %s\n" % name, ""),
         "displayed equation without \\anchor"),
        ("an equation without number",
         lambda r: plant(r, "chapters/00_introduction.md", "\\tag{0.1}", ""),
         "without a number"),
        ("a misspelled snippet tag",
         lambda r: plant(r, "chapters/00_introduction.md",
                         "ch00-softmax-rows\n", "ch00-softmax-rowz\n"),
         "ch00-softmax-rowz: no such marker"),
        ("a marker no chapter uses",
         lambda r: (r / "code/attention/core.hpp").write_text(
             (r / "code/attention/core.hpp").read_text()
             + "// [ch00-orphan]\n// [ch00-orphan]\n"),
         "marker [ch00-orphan] is used by no"),
        ("a pasted C++ block",
         lambda r: (r / "chapters/00_introduction.md").write_text(
             (r / "chapters/00_introduction.md").read_text()
             + "\n```cpp\nint x = 1;\n```\n"),
         "C++ code block in a chapter"),
        ("pasted C++ in an indented block",
         lambda r: (r / "chapters/00_introduction.md").write_text(
             (r / "chapters/00_introduction.md").read_text()
             + "\nText.\n\n    matrix a = attn::softmax_rows(s);\n"),
         "pasted C++ in a chapter"),
        ("a ';' in a test name",
         lambda r: plant(r, "tests/test_ch00_introduction.cpp",
                         'TEST_CASE("Eq. 0.1: row softmax, hand-worked"',
                         'TEST_CASE("Eq. 0.1: row softmax; hand-worked"'),
         "ctest would run nothing"),
        ("a chapter's header including a later chapter's",
         lambda r: plant(r, "code/attention/core.hpp",
                         "#include <xtensor/xtensor.hpp>\n",
                         "#include <xtensor/xtensor.hpp>\n"
                         "#include \"attention/scale.hpp\"\n"),
         "core.hpp (chapter 0) includes attention/scale.hpp of the later "
         "chapter 6"),
        ("a snippet cut before its function's closing brace",
         lambda r: plant(r, "code/attention/softmax.hpp",
                         "    return e / z;\n}\n// [ch00-softmax-rows]",
                         "    return e / z;\n// [ch00-softmax-rows]\n}"),
         "snippet [ch00-softmax-rows] has 1 unclosed brace(s)"),
        ("a header whose \\file brief names no chapter",
         lambda r: plant(r, "code/attention/core.hpp",
                         "(\\ref ch00_introduction)", ""),
         "core.hpp: its \\file brief names no chapter"),
        ("a chapter quoting a test that does not exist",
         lambda r: (r / "chapters/00_introduction.md").write_text(
             (r / "chapters/00_introduction.md").read_text()
             + "\nSee `Eq. 0.1: no such test`.\n"),
         "no TEST_CASE in tests/ is named"),
    ]
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for what, damage, expected in [("the book as it is", None, None)] + planted:
            copy = pathlib.Path(tmp) / "book"
            if copy.exists():
                shutil.rmtree(copy)
            for folder in ("chapters", "code", "tests"):
                shutil.copytree(root / folder, copy / folder)
            if damage:
                damage(copy)
            faults = check(copy)
            if damage is None:
                ok = not faults
            else:
                ok = any(expected in f for f in faults)
            print("%s: %s -> %s" % ("ok  " if ok else "FAIL", what,
                                    faults[0] if faults else "no fault"))
            failures += not ok
    print("self test: %d planted fault(s) checked, %d missed"
          % (len(planted), failures))
    return 1 if failures else 0


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["--self-test"] and len(args) == 2:
        sys.exit(self_test(args[1]))
    if len(args) == 1:
        sys.exit(run(args[0]))
    print("usage: book_check.py [--self-test] ROOT", file=sys.stderr)
    sys.exit(2)
