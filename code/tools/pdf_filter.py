#!/usr/bin/env python3
"""Doxygen input filter for the printable book (code/tools/build_pdf.sh).

    pdf_filter.py GEN_DIR FILE

It prints FILE, a chapter or page in Markdown, changed only where the
LaTeX output needs it; the chapters themselves stay HTML-first:
- chapters/index.md: @BOOK_CHAPTERS@ becomes the list of chapters, as in
  chapter_filter.py (there is no previous / next navigation on paper);
- every `\\image html NAME.svg "caption"` becomes `\\image latex NAME.pdf`
  with the same caption (build_pdf.sh converts the SVGs of GEN_DIR to PDF;
  Doxygen ignores `\\image html` when it writes LaTeX); the width on the
  page follows the SVG's own width, so that a small heat map is not blown
  up to the width of the page;
- `\\playground{id}` (HTML-only) becomes a one-line note, and
  `\\playgroundscripts` disappears;
- in formulas, a bare command as a sub- or superscript (`s_\\max`, which
  MathJax takes and LaTeX does not) gets braces (`s_{\\max}`);
- `<details><summary>Solution</summary>` folds become a plain paragraph
  headed "Solution." (on paper nothing folds).
Every line keeps its line number, so Doxygen's warnings point at the
chapter's own lines.
"""
import pathlib
import re
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from chapter_filter import chapters  # noqa: E402

IMAGE = re.compile(r'^(\s*)\\image\s+html\s+(\S+)\.svg\b(.*)$')
SIZE = re.compile(r'<svg\b[^>]*?\bwidth="([\d.]+)(?:px|pt)?"', re.S)
PLAYGROUND = re.compile(r'\\playground\{([^}]*)\}')
# A formula: \f$...\f$, \f[...\f] or \f{env}...\f}.
FORMULA = re.compile(r'\\f\$.*?\\f\$|\\f\[.*?\\f\]|\\f\{.*?\\f\}', re.S)
# MathJax takes s_\max, LaTeX wants s_{\max}.
BARE_SCRIPT = re.compile(r'([_^])(\\[A-Za-z]+)(?![A-Za-z{])')
DETAILS = re.compile(r'<details>[ \t]*<summary>[ \t]*(.*?)[ \t]*</summary>[ \t]*')
# The SVGs of the build are drawn for a page about 900 px wide.
FULL_WIDTH_PX = 900.0


def width(gen, name):
    """The LaTeX width of figure NAME: its SVG's share of 900 px."""
    try:
        head = (gen / (name + ".svg")).read_text(encoding="utf-8")[:4000]
    except OSError:
        return r"\textwidth"
    match = SIZE.search(head)
    if not match:
        return r"\textwidth"
    share = min(1.0, float(match.group(1)) / FULL_WIDTH_PX)
    return r"%.2f\textwidth" % max(share, 0.45)


def image(gen, match):
    indent, name, rest = match.group(1), match.group(2), match.group(3)
    caption = re.match(r'\s*("(?:[^"\\]|\\.)*")', rest)
    caption = (" " + caption.group(1)) if caption else ""
    return "%s\\image latex %s.pdf%s width=%s" % (
        indent, name, caption, width(gen, name))


def main():
    gen = pathlib.Path(sys.argv[1])
    path = pathlib.Path(sys.argv[2]).resolve()
    text = path.read_text(encoding="utf-8")
    if path.name == "index.md":
        toc = "\n".join("- \\subpage %s" % c[1] for c in chapters(path.parent))
        text = text.replace("@BOOK_CHAPTERS@", toc)
    lines = text.split("\n")
    text = "\n".join(image(gen, IMAGE.match(l)) if IMAGE.match(l) else l
                     for l in lines)
    text = FORMULA.sub(lambda m: BARE_SCRIPT.sub(r"\1{\2}", m.group(0)), text)
    text = PLAYGROUND.sub(
        r"<em>(Here the HTML book has a playground, \1, to try in the browser.)</em>",
        text)
    text = text.replace("\\playgroundscripts", "")
    text = DETAILS.sub(lambda m: "<b>%s.</b> " % m.group(1).rstrip("."), text)
    text = text.replace("</details>", "")
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
