#!/usr/bin/env python3
"""Doxygen input filter for the book's chapters (FILTER_PATTERNS in Doxyfile).

    chapter_filter.py [--edition=instructor|student] FILE

It prints the file it is given unchanged, except:
- chapters/NN_*.md, whose first line is "# Chapter N: Title {#label}":
  previous / contents / next links are added at the top
  and the bottom, from the order of the file names, so the links are never
  stale and no chapter has to name its neighbours;
- chapters/index.md: the line @BOOK_CHAPTERS@ becomes the list of chapters.

The edition (default instructor: the book as written) is chosen by CMake's
BOOK_EDITION, which puts --edition=student on the filter's command line in
the Doxyfile of the students' edition. That edition has no worked solution:
- every folded solution, <details><summary>Solution</summary> ... </details>,
  is removed from every page (its lines become empty lines, so that
  Doxygen's warnings still point at the right line); a "Solution" summary
  left unclosed fails the build rather than leak the text after it;
- chapters/instructors.md keeps its title (retitled), a note on the edition
  and the sections STUDENT_SECTIONS; the rest (the plan of the sessions,
  the playgrounds in a lecture with the answer to a pre-lab question, the
  course kit) is for instructors only.
tests/edition_check.py checks the generated students' book for what this
removes.
"""
import pathlib
import re
import sys

# A chapter's first line: "# Chapter N: Title {#chNN_label}".
PAGE = re.compile(r"^#\s+(.*?)\s*\{#(\S+)\}\s*$", re.M)

EDITIONS = ("instructor", "student")

# A folded worked solution, from the opening tag to its closing tag, with
# the blanks before it on its line.
SOLUTION = re.compile(
    r"[ \t]*<details>\s*<summary>\s*Solution\b[^<]*</summary>"
    r"(?:(?!<details>).)*?</details>",
    re.S | re.I)
SOLUTION_START = re.compile(r"<summary>\s*Solution\b", re.I)

# What the students' edition keeps of the page for instructors.
STUDENT_SECTIONS = ("Prerequisites", "Learning objectives")
STUDENT_TITLE = "Prerequisites and learning objectives"
STUDENT_NOTE = (
    "This is the students' edition of the book: its exercises come without\n"
    "their worked solutions, and this page keeps, of the page for\n"
    "instructors, what a student needs before starting and what each\n"
    "chapter should leave behind.")


def chapters(folder):
    """(file, page id, title) of every numbered chapter, in order."""
    found = []
    for path in sorted(folder.glob("[0-9][0-9]_*.md")):
        match = PAGE.search(path.read_text(encoding="utf-8"))
        if match:
            found.append((path, match.group(2), match.group(1).strip()))
    return found


def nav(book, k):
    parts = []
    if k > 0:
        parts.append('\\ref %s "&larr; %s"' % (book[k - 1][1], book[k - 1][2]))
    parts.append('\\ref index "Contents"')
    if k + 1 < len(book):
        parts.append('\\ref %s "%s &rarr;"' % (book[k + 1][1], book[k + 1][2]))
    return '<div class="chapter-nav">' + " &nbsp;|&nbsp; ".join(parts) + "</div>"


def without_solutions(text, name):
    """text with every folded solution replaced by as many line breaks."""
    text = SOLUTION.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    left = SOLUTION_START.search(text)
    if left:
        # Doxygen does not look at a filter's exit status, but it fails the
        # build on the unresolved reference printed instead of the page.
        line = text.count("\n", 0, left.start()) + 1
        sys.stderr.write("%s:%d: error: a <summary>Solution</summary> without "
                         "its <details> ... </details> around it; the students' "
                         "edition cannot remove it\n" % (name, line))
        sys.stdout.write("\\ref chapter_filter_found_an_unclosed_solution\n")
        sys.exit(1)
    return text


def students_instructor_page(text):
    """The page for instructors cut to what a student needs (see above).

    Every line left out becomes an empty line, so that the line numbers of
    what is kept do not move."""
    lines = text.split("\n")
    keep = [False] * len(lines)
    title = next((i for i, l in enumerate(lines) if PAGE.match(l)), None)
    section = None
    for i, line in enumerate(lines):
        if line.startswith("## "):
            section = line[3:].strip() in STUDENT_SECTIONS
        if section or (section is None and line.strip() == "\\tableofcontents"):
            keep[i] = True
    out = [l if k else "" for l, k in zip(lines, keep)]
    if title is None:
        return "\n".join(out)
    out[title] = "# %s {#%s}" % (STUDENT_TITLE, PAGE.match(lines[title]).group(2))
    # The note goes where the introduction was, if it has the room.
    note = STUDENT_NOTE.split("\n")
    at = next((i for i in range(title + 1, len(lines) - len(note))
               if all(lines[j].strip() and not keep[j]
                      for j in range(i, i + len(note)))), None)
    if at is None:
        out[title] += "\n\n" + STUDENT_NOTE + "\n"
    else:
        out[at:at + len(note)] = note
    return "\n".join(out)


def main():
    args = sys.argv[1:]
    edition = "instructor"
    while args and args[0].startswith("--edition="):
        edition = args.pop(0).split("=", 1)[1]
    if len(args) != 1 or edition not in EDITIONS:
        sys.exit("usage: chapter_filter.py [--edition=instructor|student] FILE")
    path = pathlib.Path(args[0]).resolve()
    text = path.read_text(encoding="utf-8")
    book = chapters(path.parent)
    files = [c[0] for c in book]
    if edition == "student":
        text = without_solutions(text, str(path))
        if path.name == "instructors.md":
            text = students_instructor_page(text)
    if path.name == "index.md":
        toc = "\n".join("- \\subpage %s" % c[1] for c in book)
        text = text.replace("@BOOK_CHAPTERS@", toc)
    elif path in files:
        k = files.index(path)
        line = nav(book, k)
        lines = text.split("\n")
        at = next(i for i, l in enumerate(lines) if PAGE.match(l))
        # Keep the line count of the original above every later line, so
        # Doxygen's warnings still point at the right line.
        text = "\n".join(lines[: at + 1]) + "\n" + line + " " + "\n".join(lines[at + 1:])
        text = text.rstrip("\n") + "\n\n" + line + "\n"
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
