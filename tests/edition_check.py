#!/usr/bin/env python3
"""Checks that the students' edition of the book has no worked solution.

    edition_check.py SOURCE HTML_DIR               the students' edition
    edition_check.py --instructor SOURCE HTML_DIR  the instructors' edition
    edition_check.py --self-test SOURCE HTML_DIR   the check's own check

SOURCE is the repository, HTML_DIR a generated book (build/book_student/html).
What counts as a solution is read from the sources, independently of
code/tools/chapter_filter.py, which removes them:
- every <details> block of a chapter whose summary says "Solution" or
  "Answer";
- of chapters/instructors.md, everything but its sections
  STUDENT_SECTIONS (the rest is for instructors, and holds answers);
- every reference solution, tests/solutions/*.hpp (if the folder is there:
  the students' kit has none, and then there is nothing of it to leak).
Text is compared as runs of N consecutive words (letters and digits,
lower case; markup, formula delimiters and punctuation ignored), so a
sentence is found whatever Doxygen made of its markup. Only the runs that
appear nowhere in what the students' edition may show (the chapters
without the above, the code, the tests, the figures) are looked for.

The students' edition fails the check if any file of HTML_DIR (MathJax
aside) holds a "Solution" or "Answer" summary or one such run, or if
HTML_DIR/../Doxyfile lets Doxygen read tests/solutions or does not pass
--edition=student to the chapters' filter, or a chapter names a file of
tests/solutions in a command that copies files into the book.
--instructor checks the other side: every solution is found in that
book (so the runs looked for do match Doxygen's output), with as many
summaries as the chapters have.
--self-test requires the students' edition to pass, then plants a folded
solution, a solution's sentence in other markup and a line of a reference
solution as Doxygen would show it, each in a copy of the pages, and
requires each to be caught.
"""
import html
import pathlib
import re
import sys

N = 8  # words in a run
STUDENT_SECTIONS = ("Prerequisites", "Learning objectives")
SKIP_DIRS = {"mathjax"}
TEXT_SUFFIXES = {".html", ".js", ".json", ".css", ".svg", ".map", ".md",
                 ".txt", ".xml", ".hpp", ".cpp", ".py", ".dot"}

DETAILS = re.compile(r"<details>\s*<summary>(.*?)</summary>(.*?)</details>",
                     re.S | re.I)
SOLUTION_SUMMARY = re.compile(r"<summary>[^<]*\b(solution|answer)", re.I)
WORD = re.compile(r"[a-z0-9]+")
COPYING = re.compile(r"[\\@](snippet|snippetdoc|snippetlineno|include|"
                     r"includedoc|includelineno|dontinclude|verbinclude|"
                     r"htmlinclude|latexinclude|image|dotfile|example)\b"
                     r"[^\n]*solutions/", re.I)


def md_words(text):
    """The words of a Markdown source as the reader sees them."""
    text = re.sub(r"\\f[$\[\]{}]", " ", text)           # formula delimiters
    text = re.sub(r"\\(ref|anchor|subpage)\s+\S+", " ", text)
    text = re.sub(r"^\s*\\(snippet|includedoc|include|image)\b.*$", " ",
                  text, flags=re.M)
    text = re.sub(r"\]\([^)]*\)", "] ", text)           # link targets
    text = re.sub(r"\{#[^}]*\}", " ", text)             # page labels
    text = re.sub(r"<[^>]*>", " ", text)
    return WORD.findall(html.unescape(text).lower())


def html_words(text):
    """The words of a generated file, tags and entities removed."""
    text = re.sub(r"<[^>]*>", " ", text)
    return WORD.findall(html.unescape(text).lower())


def code_words(text):
    return WORD.findall(text.lower())


def runs(words):
    return {" ".join(words[i:i + N]) for i in range(len(words) - N + 1)}


def instructors_split(text):
    """(what a student may see, what is for instructors) of instructors.md."""
    shown, hidden, keep = [], [], False
    for line in text.split("\n"):
        if line.startswith("## "):
            keep = line[3:].strip() in STUDENT_SECTIONS
        (shown if keep else hidden).append(line)
    return "\n".join(shown), "\n".join(hidden)


# A trailing Doxygen comment (///< ...) or a whole comment line (// or ///).
DOC_COMMENT = re.compile(r"///<[^\n]*|^[ \t]*//[^\n]*", re.M)


def solutions(src):
    """{name: words} of every solution, and the words a student may see."""
    found, seen = {}, []
    for path in sorted((src / "chapters").glob("*.md")):
        text = path.read_text(encoding="utf-8")
        if path.name == "instructors.md":
            shown, hidden = instructors_split(text)
            found["chapters/instructors.md (for instructors only)"] = \
                md_words(hidden)
            seen.append(md_words(shown))
            continue
        blocks = [m for m in DETAILS.finditer(text)
                  if re.search(r"\b(solution|answer)", m.group(1), re.I)]
        for k, match in enumerate(blocks, 1):
            line = text.count("\n", 0, match.start()) + 1
            found["%s:%d (solution %d)" % (path.relative_to(src), line, k)] \
                = md_words(match.group(2))
        starts = {m.start() for m in blocks}
        seen.append(md_words(DETAILS.sub(
            lambda m: "\n" if m.start() in starts else m.group(0), text)))
    folder = src / "tests" / "solutions"
    references = sorted(folder.glob("*")) if folder.is_dir() else []
    for path in references:
        if path.is_file():
            found[str(path.relative_to(src))] = code_words(
                path.read_text(encoding="utf-8", errors="replace"))
    for pattern in ("code/**/*", "tests/*", "tests/exercises/*",
                    "tests/playgrounds/*", "figures/*"):
        for path in src.glob(pattern):
            if path.is_file() and path.suffix in TEXT_SUFFIXES | {".gp", ""}:
                text = path.read_text(encoding="utf-8", errors="replace")
                seen.append(code_words(text))
                # Also as a page may show it: Doxygen leaves the library's
                # ///< comments out of a snippet, so the code around them
                # reads as one run there.
                seen.append(code_words(DOC_COMMENT.sub("", text)))
    return found, seen


def distinctive(found, seen):
    """{name: runs of its words that a student may not see elsewhere}."""
    visible = set()
    for words in seen:
        visible |= runs(words)
    return {name: runs(words) - visible for name, words in found.items()}


def edition_files(folder):
    """{relative name: text} of every text file of a generated book."""
    files = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if path.is_file() and not SKIP_DIRS & set(rel.parts[:-1]) \
                and path.suffix in TEXT_SUFFIXES:
            files[str(rel)] = path.read_text(encoding="utf-8", errors="replace")
    return files


def scan(files, wanted):
    """[(file, what)] of every solution summary and every wanted run."""
    owner = {}
    for name, found in wanted.items():
        for run in found:
            owner.setdefault(run, name)
    hits, reported = [], set()
    for rel, text in files.items():
        for match in SOLUTION_SUMMARY.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            hits.append((rel, "line %d: a summary %r" % (line, match.group(0))))
        words = html_words(text)
        for i in range(len(words) - N + 1):
            run = " ".join(words[i:i + N])
            name = owner.get(run)
            if name and (rel, name) not in reported:
                reported.add((rel, name))
                hits.append((rel, "text of %s: \"%s\"" % (name, run)))
    return hits


def config_errors(src, html_dir):
    """What lets the students' edition read tests/solutions."""
    errors = []
    for path in sorted((src / "chapters").glob("*.md")):
        for match in COPYING.finditer(path.read_text(encoding="utf-8")):
            errors.append("%s copies a file of tests/solutions into the book: %s"
                          % (path.relative_to(src), match.group(0).strip()))
    doxyfile = html_dir.parent / "Doxyfile"
    if not doxyfile.is_file():
        return errors
    text = re.sub(r"\\\n", " ", doxyfile.read_text(encoding="utf-8"))
    config = {}
    for line in text.split("\n"):
        match = re.match(r"\s*([A-Z_]+)\s*=(.*)$", line)
        if match:   # a later assignment wins, as in Doxygen
            config[match.group(1)] = match.group(2).strip()
    solutions_dir = (src / "tests" / "solutions").resolve()
    recursive = config.get("EXAMPLE_RECURSIVE", "NO") == "YES"
    for key in ("INPUT", "EXAMPLE_PATH", "IMAGE_PATH", "INCLUDE_PATH",
                "DOTFILE_DIRS", "HTML_EXTRA_FILES"):
        for entry in config.get(key, "").split():
            path = pathlib.Path(entry.strip('"'))
            path = (path if path.is_absolute() else src / path).resolve()
            inside = path == solutions_dir or solutions_dir in path.parents
            above = solutions_dir in [path / p for p in ("tests/solutions",
                                                         "solutions")]
            if inside or (above and (key == "INPUT" or recursive)):
                errors.append("%s: %s reads tests/solutions (%s)"
                              % (doxyfile, key, entry))
    if "--edition=student" not in config.get("FILTER_PATTERNS", ""):
        errors.append("%s: FILTER_PATTERNS does not pass --edition=student to "
                      "the chapters' filter" % doxyfile)
    return errors


def wordy(found):
    """The run with the most words of letters (the most telling to show)."""
    return max(sorted(found), key=lambda r: sum(w.isalpha() for w in
                                                r.split())).split()


def check_student(src, html_dir, files, wanted):
    hits = scan(files, wanted)
    for rel, what in hits:
        print("%s: %s" % (html_dir / rel, what))
    errors = config_errors(src, html_dir)
    for error in errors:
        print(error)
    return len(hits) + len(errors)


def main():
    args = sys.argv[1:]
    mode = "student"
    if args and args[0] in ("--self-test", "--instructor"):
        mode = args.pop(0)[2:]
    if len(args) != 2:
        sys.exit(__doc__.split("\n\n")[1])
    src, html_dir = pathlib.Path(args[0]).resolve(), pathlib.Path(args[1])
    if not (html_dir / "index.html").is_file():
        sys.exit("edition_check: %s has no index.html; build the book first"
                 % html_dir)
    found, seen = solutions(src)
    wanted = distinctive(found, seen)
    blind = sorted(name for name, r in wanted.items() if not r)
    if blind:
        print("Solutions with no run of %d words of their own, which this "
              "check cannot see (give them a sentence):" % N)
        for name in blind:
            print("  " + name)
        return 1
    files = edition_files(html_dir)
    chapters = [n for n in wanted if not n.startswith("tests/")]
    references = [n for n in wanted if n.startswith("tests/")]
    print("%d folded solutions, the page for instructors and %d reference "
          "solutions; %d files of %s scanned"
          % (len(chapters) - 1, len(references), len(files), html_dir))

    if mode == "instructor":
        hits = scan(files, {n: wanted[n] for n in chapters})
        missing = sorted(set(chapters) - {what.split("text of ")[1]
                                          .split(": \"")[0]
                                          for _, what in hits
                                          if what.startswith("text of ")})
        summaries = sum(1 for _, what in hits if what.startswith("line "))
        for name in missing:
            print("not found in the instructors' edition: " + name)
        folded = sum(1 for n in chapters if "(solution" in n)
        if summaries != folded:
            print("%d solution summaries in the book, %d in the chapters"
                  % (summaries, folded))
        if missing or summaries != folded:
            return 1
        print("Every folded solution is in the instructors' edition, with "
              "its summary, and so is the page for instructors.")
        return 0

    if mode == "student":
        failures = check_student(src, html_dir, files, wanted)
        if failures:
            print("FAILED: the students' edition shows %d solution(s) or ways "
                  "to one." % failures)
            return 1
        print("The students' edition has no worked solution.")
        return 0

    # --self-test
    if check_student(src, html_dir, files, wanted):
        print("SELF-TEST FAILED: the edition does not pass to begin with")
        return 1
    first = next(n for n in chapters if "(solution" in n)
    last = [n for n in chapters if "(solution" in n][-1]
    path, line = first.split(" ")[0].rsplit(":", 1)
    text = (src / path).read_text(encoding="utf-8")
    block = DETAILS.search(text, sum(len(l) + 1 for l in
                                     text.split("\n")[:int(line) - 1]))
    folded = re.sub(r"\\f\$(.*?)\\f\$", r"\\(\1\\)", block.group(0), flags=re.S)
    run = wordy(wanted[last])
    sentence = "<p>" + " ".join("<em>%s</em>," % w if i % 2 else w
                                for i, w in enumerate(run)) + "</p>"
    plants = [("a folded solution of " + first,
               {"ch00_introduction.html": folded}, [first, "a summary"]),
              ("a sentence of %s in other markup" % last,
               {"notation.html": sentence}, [last]),
              ("the page for instructors",
               {"instructors.html": "<p>%s</p>" % " ".join(wordy(
                   wanted["chapters/instructors.md (for instructors only)"]))},
               ["instructors.md"])]
    if references:
        code = wordy(wanted[references[0]])
        line = "".join('<span class="keyword">%s</span>(' % w for w in code)
        plants.append(("a line of " + references[0],
                       {"search/all_0.js": '<div class="line">%s</div>' % line},
                       [references[0]]))
    else:
        print("(no tests/solutions: nothing of it to plant)")
    bad = 0
    for what, planted, expect in plants:
        copy = dict(files)
        for rel, extra in planted.items():
            copy[rel] = copy.get(rel, "") + "\n" + extra + "\n"
        hits = scan(copy, wanted)
        caught = all(any(e in h for _, h in hits) for e in expect)
        print("%s: %s" % ("caught" if caught else "MISSED", what))
        for rel, h in hits:
            print("    %s: %s" % (rel, h))
        bad += not caught
    if bad:
        print("SELF-TEST FAILED: %d planted solution(s) not caught" % bad)
        return 1
    print("Self-test passed: every planted solution was caught.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
