#!/usr/bin/env python3
"""Doxygen input filter for the book's chapters (FILTER_PATTERNS in Doxyfile).

It prints the file it is given unchanged, except:
- chapters/NN_*.md, whose first line is "# Chapter N: Title {#label}":
  previous / contents / next links are added at the top
  and the bottom, from the order of the file names, so the links are never
  stale and no chapter has to name its neighbours;
- chapters/index.md: the line @BOOK_CHAPTERS@ becomes the list of chapters.
"""
import pathlib
import re
import sys

# A chapter's first line: "# Chapter N: Title {#chNN_label}".
PAGE = re.compile(r"^#\s+(.*?)\s*\{#(\S+)\}\s*$", re.M)


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


def main():
    path = pathlib.Path(sys.argv[1]).resolve()
    text = path.read_text(encoding="utf-8")
    book = chapters(path.parent)
    files = [c[0] for c in book]
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
