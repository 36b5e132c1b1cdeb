#!/usr/bin/python3
"""Does every page of the book fit its text column, in a real browser?

Usage:
    layout_check.py HTML_DIR [--widths 1024,1280] [--pages a.html,b.html]
                             [--jobs 2] [--chromium PATH] [--verbose]
    layout_check.py HTML_DIR --self-test

For each page (index.html, every chapter page and every other page written
from chapters/*.md: the pages Doxygen closes with "<!-- PageDoc -->") this
script writes a small harness page that holds the book's page in one
<iframe> per window width, side by side, with Doxygen's navigation tree
open (its default on a fresh profile: no cookie, TREEVIEW_WIDTH). It runs

    chromium --headless --dump-dom file:///.../harness.html

once per page. Inside each iframe the harness waits for MathJax
(StartupHook "End", then a MathJax.Hub.Queue callback), opens every
<details> (the folded solutions are displayed once a reader opens them) and
has MathJax re-render, waits for the navigation tree, and then measures
against the text column (div.contents, its content box, and never past the
visible part of #doc-content):

  formula         every displayed formula (the <svg> MathJax drew)
  inline-formula  every inline formula
  table           every table
  code            every div.fragment / pre.fragment (also when it scrolls)
  image           every img, object, embed, iframe and svg (not MathJax's)
  <tag>           any other element that runs past the column (outermost)
  page            #doc-content scrolls sideways
  sidebar         the navigation tree is closed, or cuts a page's title
  math-error      a formula MathJax could not typeset (merror)
  math-pending    a formula still untypeset when measured

An element fails when getBoundingClientRect().right exceeds the column's
right edge by more than half a pixel, or when it scrolls sideways
(scrollWidth > clientWidth). The harness writes its measurements as JSON
into its own body; this script reads them from the printed DOM and prints
one line per failure:

    FAIL ch01_bahdanau.html @1024px formula: Eq. 1.2 (right 1012.3 > column 955.0)

and a summary line "layout: N pages x W widths, M overflows". The exit
status is 0 when nothing overflows, 1 when something does, 2 on a usage
error or when Chromium could not be run.

--self-test copies one chapter page with a planted over-wide formula
(\\tag{99.1}), a planted narrow one (\\tag{99.2}) and a planted over-wide
table, runs the same measurement on it, and passes (exit 0) only when the
wide formula and the table are reported at every width and the narrow
formula is not.

Needs Debian's `chromium` package.
"""

import argparse
import concurrent.futures
import glob
import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

DEFAULT_WIDTHS = "1024,1280"
FRAME_HEIGHT = 900
# Virtual milliseconds Chromium may spend; the harness gives up (and
# reports a timeout) a little before.
BUDGET_MS = 30000
HARNESS_DEADLINE_MS = 26000

HARNESS = r"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>layout harness</title>
<style>
body { margin: 0; }
#frames { display: flex; align-items: flex-start; }
iframe { border: 0; margin: 0; padding: 0; flex: none; height: %(height)dpx; }
</style></head>
<body>
<div id="frames">%(frames)s</div>
<script>
"use strict";
var PAGE = %(page_json)s;
var DEADLINE = %(deadline)d;
var frames = Array.prototype.slice.call(document.querySelectorAll("iframe"));
var results = [];
var remaining = frames.length;

function finish(result) {
  results.push(result);
  remaining -= 1;
  if (remaining === 0) {
    var pre = document.createElement("pre");
    pre.id = "layout-result";
    pre.textContent = JSON.stringify({page: PAGE, results: results});
    document.body.appendChild(pre);
  }
}

function texOf(w, frameSpan) {
  // MathJax 2 names the drawing "MathJax-Element-N-Frame" and keeps the
  // TeX in the script "MathJax-Element-N".
  var id = (frameSpan.id || "").replace(/-Frame$/, "");
  var script = id ? frameSpan.ownerDocument.getElementById(id) : null;
  return script ? script.textContent : "";
}

function formulaLabel(tex) {
  var m = /\\tag\*?\s*\{([^}]*)\}/.exec(tex);
  if (m) return "Eq. " + m[1].trim();
  return tex.replace(/\s+/g, " ").trim().slice(0, 60);
}

function shortText(el) {
  return (el.textContent || "").replace(/\s+/g, " ").trim().slice(0, 60);
}

function hasMerror(node) {
  if (!node) return false;
  if (node.type === "merror") return true;
  var data = node.data || [];
  for (var i = 0; i < data.length; i++) {
    if (data[i] && typeof data[i] === "object" && hasMerror(data[i])) return true;
  }
  return false;
}

function measure(frame, width, w, d, notes) {
  var res = {width: width, failures: [], counts: {}, notes: notes};
  function fail(kind, label, right, column, extra) {
    var f = {kind: kind, label: label};
    if (right !== undefined) f.right = Math.round(right * 10) / 10;
    if (column !== undefined) f.column = Math.round(column * 10) / 10;
    if (extra) f.extra = extra;
    res.failures.push(f);
  }
  function count(kind) { res.counts[kind] = (res.counts[kind] || 0) + 1; }

  var contents = d.querySelector("div.contents");
  if (!contents) { fail("page", "no div.contents"); return res; }
  var cs = w.getComputedStyle(contents);
  var cr = contents.getBoundingClientRect();
  var column = cr.right - parseFloat(cs.paddingRight) - parseFloat(cs.borderRightWidth);
  var docContent = d.getElementById("doc-content");
  if (docContent) {
    var dr = docContent.getBoundingClientRect();
    column = Math.min(column, dr.left + docContent.clientLeft + docContent.clientWidth);
    if (docContent.scrollWidth > docContent.clientWidth + 1)
      fail("page", "#doc-content scrolls sideways", docContent.scrollWidth, docContent.clientWidth, "scroll");
  }
  column = Math.min(column, d.documentElement.clientWidth);
  res.column = {left: Math.round(cr.left), right: Math.round(column * 10) / 10,
                width: Math.round(column - cr.left)};
  var TOL = 0.5;
  function displayed(el) { return el.getClientRects().length > 0; }
  var measured = [];  // elements already judged (skip their descendants)

  // Formulas, displayed and inline.
  var spans = contents.querySelectorAll(".MathJax_SVG");
  for (var i = 0; i < spans.length; i++) {
    var span = spans[i];
    var svg = span.querySelector("svg");
    if (!svg || !displayed(svg)) continue;
    var isDisplay = !!span.closest(".MathJax_SVG_Display");
    var kind = isDisplay ? "formula" : "inline-formula";
    count(kind);
    var host = isDisplay ? span.closest(".MathJax_SVG_Display") : span;
    measured.push(host);
    var right = Math.max(svg.getBoundingClientRect().right, span.getBoundingClientRect().right);
    var label = formulaLabel(texOf(w, span));
    if (right > column + TOL) fail(kind, label, right, column);
    else if (host.scrollWidth > host.clientWidth + 1 && isDisplay)
      fail(kind, label + " (scrolls sideways)", host.scrollWidth, host.clientWidth, "scroll");
  }
  // MathJax's own verdicts: errors, and anything left untypeset.
  if (w.MathJax && w.MathJax.Hub && w.MathJax.Hub.getAllJax) {
    var jax = w.MathJax.Hub.getAllJax(contents);
    var processed = w.MathJax.ElementJax && w.MathJax.ElementJax.STATE
                    ? w.MathJax.ElementJax.STATE.PROCESSED : 2;
    for (var j = 0; j < jax.length; j++) {
      if (hasMerror(jax[j].root))
        fail("math-error", formulaLabel(jax[j].originalText || ""));
    }
    var scripts = contents.querySelectorAll('script[type^="math/tex"]');
    for (var k = 0; k < scripts.length; k++) {
      var s = scripts[k];
      if (!(s.MathJax && s.MathJax.state === processed))
        fail("math-pending", formulaLabel(s.textContent));
    }
  }
  var dsp = contents.querySelectorAll(".formulaDsp");
  for (var q = 0; q < dsp.length; q++) {
    if (!dsp[q].querySelector(".MathJax_SVG_Display"))
      fail("math-pending", shortText(dsp[q]));
  }

  // Tables, code, images.
  function judge(selector, kind, labelOf) {
    var els = contents.querySelectorAll(selector);
    for (var i = 0; i < els.length; i++) {
      var el = els[i];
      if (!displayed(el) || el.closest(".MathJax_SVG")) continue;
      count(kind);
      measured.push(el);
      var r = el.getBoundingClientRect();
      if (r.right > column + TOL) fail(kind, labelOf(el), r.right, column);
      else if (el.scrollWidth > el.clientWidth + 1 && el.clientWidth > 0)
        fail(kind, labelOf(el) + " (scrolls sideways)", el.scrollWidth, el.clientWidth, "scroll");
    }
  }
  judge("table", "table", function (el) {
    var row = el.querySelector("tr");
    var cells = row ? Array.prototype.map.call(row.children, shortText) : [shortText(el)];
    return "table \"" + cells.join(" | ").slice(0, 60) + "\"";
  });
  judge("div.fragment, pre.fragment", "code", function (el) {
    var line = el.querySelector("div.line");
    return "code \"" + shortText(line || el) + "\"";
  });
  judge("img, object, embed, iframe, svg", "image", function (el) {
    var name = el.getAttribute("src") || el.getAttribute("data") || el.id || el.tagName;
    return "image " + name;
  });
  // Anything else that runs past the column: report the outermost.
  var all = contents.querySelectorAll("*");
  var reported = [];
  for (var a = 0; a < all.length; a++) {
    var el = all[a];
    if (el.closest("script, style, .MathJax_SVG, .MathJax_SVG_Display, .MathJax_Preview")) continue;
    var skip = false;
    for (var m = 0; m < measured.length && !skip; m++) if (measured[m].contains(el)) skip = true;
    for (var n = 0; n < reported.length && !skip; n++) if (reported[n].contains(el)) skip = true;
    if (skip || !displayed(el)) continue;
    var r2 = el.getBoundingClientRect();
    if (r2.width > 0 && r2.right > column + TOL) {
      reported.push(el);
      fail(el.tagName.toLowerCase(), "\"" + shortText(el) + "\"", r2.right, column);
    }
  }

  // Code lines that wrap (not a failure: a note).
  var lines = contents.querySelectorAll("div.fragment div.line");
  var wrapped = 0;
  for (var z = 0; z < lines.length; z++) if (lines[z].getClientRects().length > 1) wrapped++;
  res.wrapped_code_lines = wrapped;

  // The navigation tree: open, and every page's title whole.
  var side = d.getElementById("side-nav");
  var tree = d.getElementById("nav-tree");
  var sideWidth = side ? side.getBoundingClientRect().width : 0;
  res.sidebar = {width: Math.round(sideWidth)};
  if (sideWidth < 50) {
    fail("sidebar", "navigation tree closed (width " + Math.round(sideWidth) + " px)");
  } else if (tree) {
    var tr = tree.getBoundingClientRect();
    var treeRight = tr.left + tree.clientLeft + tree.clientWidth;
    var labels = tree.querySelectorAll(".label");
    var cutSections = 0;
    for (var b = 0; b < labels.length; b++) {
      var lab = labels[b];
      if (!displayed(lab)) continue;
      var link = lab.querySelector("a");
      var href = link ? (link.getAttribute("href") || "") : "";
      var rr = lab.getBoundingClientRect().right;
      if (rr <= treeRight + TOL) continue;
      if (href.indexOf("#") < 0) {
        fail("sidebar", "title cut: \"" + shortText(lab) + "\"", rr, treeRight);
      } else {
        cutSections++;
      }
    }
    res.sidebar.cut_section_titles = cutSections;
    res.sidebar.items = labels.length;
  }
  return res;
}

function run(frame) {
  var width = parseInt(frame.getAttribute("data-width"), 10);
  var start = Date.now();
  var notes = [];
  var stage = "loading";
  var settled = false;
  function timedOut() {
    if (settled) return true;
    if (Date.now() - start > DEADLINE) {
      settled = true;
      finish({width: width, failures: [{kind: "timeout", label: "still " + stage + " after " + DEADLINE + " ms"}], counts: {}});
      return true;
    }
    return false;
  }
  function poll() {
    if (timedOut()) return;
    var w = frame.contentWindow, d = frame.contentDocument;
    // Until the page arrives the frame holds about:blank: wait for the page.
    if (!w || !d || d.URL.indexOf(PAGE) < 0) { setTimeout(poll, 50); return; }
    if (d.readyState === "complete" && !d.querySelector('script[src*="MathJax.js"]')) {
      notes.push("no MathJax on this page");
      var folded = d.querySelectorAll("details");
      for (var i = 0; i < folded.length; i++) folded[i].open = true;
      stage = "waiting for the navigation tree";
      waitTree(w, d);
      return;
    }
    if (!w || !d || d.readyState !== "complete" || !w.MathJax || !w.MathJax.Hub || !w.MathJax.Hub.Register) {
      setTimeout(poll, 50);
      return;
    }
    stage = "typesetting";
    w.MathJax.Hub.Register.StartupHook("End", function () {
      w.MathJax.Hub.Queue(function () {
        var opened = 0;
        var det = d.querySelectorAll("details");
        for (var i = 0; i < det.length; i++) if (!det[i].open) { det[i].open = true; opened++; }
        notes.push("opened " + opened + " <details>");
        stage = "re-rendering";
        w.MathJax.Hub.Queue(["Rerender", w.MathJax.Hub], function () {
          stage = "waiting for the navigation tree";
          waitTree(w, d);
        });
      });
    });
  }
  function waitTree(w, d) {
    if (timedOut()) return;
    var ready = d.querySelector("#nav-tree-contents .item") && d.querySelector("#nav-tree .selected");
    if (!ready && Date.now() - start < DEADLINE / 2) { setTimeout(function () { waitTree(w, d); }, 50); return; }
    if (!ready) notes.push("navigation tree not synced");
    // Give resize.js one more turn to settle heights, then measure.
    setTimeout(function () {
      if (settled) return;
      settled = true;
      var res;
      try { res = measure(frame, width, w, d, notes); }
      catch (e) { res = {width: width, failures: [{kind: "harness", label: String(e)}], counts: {}}; }
      finish(res);
    }, 200);
  }
  poll();
}
frames.forEach(run);
</script>
</body></html>
"""


def find_chromium(explicit):
    for name in ([explicit] if explicit else []) + ["chromium", "chromium-browser", "google-chrome"]:
        path = shutil.which(name) if name else None
        if path:
            return path
    return None


def book_pages(html_dir):
    """index.html and every page written from chapters/*.md."""
    pages = []
    for path in sorted(glob.glob(os.path.join(html_dir, "*.html"))):
        with open(path, encoding="utf-8", errors="replace") as f:
            if "<!-- PageDoc -->" in f.read():
                pages.append(os.path.basename(path))
    if "index.html" in pages:
        pages.remove("index.html")
        pages.insert(0, "index.html")
    return pages


def harness_for(page_url, page, widths):
    frames = "".join(
        '<iframe data-width="%d" style="width:%dpx" src="%s"></iframe>'
        % (w, w, html.escape(page_url, quote=True)) for w in widths)
    return HARNESS % {"height": FRAME_HEIGHT, "frames": frames,
                      "page_json": json.dumps(page), "deadline": HARNESS_DEADLINE_MS}


def check_page(chromium, html_dir, page, widths, work):
    """One Chromium run: every width of one page. Returns (page, results, error)."""
    page_path = os.path.abspath(os.path.join(html_dir, page))
    harness = os.path.join(work, "harness_" + page)
    with open(harness, "w", encoding="utf-8") as f:
        f.write(harness_for("file://" + page_path, page, widths))
    profile = tempfile.mkdtemp(prefix="profile_", dir=work)
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", "--allow-file-access-from-files",
           "--user-data-dir=" + profile,
           "--window-size=%d,%d" % (sum(widths) + 100, FRAME_HEIGHT + 100),
           "--virtual-time-budget=%d" % BUDGET_MS, "--dump-dom", "file://" + harness]
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=240, check=False)
    except subprocess.TimeoutExpired:
        return page, None, "chromium did not finish within 240 s"
    out = proc.stdout.decode("utf-8", errors="replace")
    m = re.search(r'<pre id="layout-result">(.*?)</pre>', out, re.S)
    if not m:
        tail = proc.stderr.decode("utf-8", errors="replace").strip().splitlines()[-3:]
        return page, None, "no result in the DOM (exit %d) %s" % (proc.returncode, " | ".join(tail))
    data = json.loads(html.unescape(m.group(1)))
    results = sorted(data["results"], key=lambda r: r["width"])
    return page, results, None


def describe(failure):
    text = "%s: %s" % (failure["kind"], failure["label"])
    if failure.get("extra") == "scroll":
        text += " (scrollWidth %.0f > clientWidth %.0f)" % (failure["right"], failure["column"])
    elif "right" in failure and "column" in failure:
        text += " (right %.1f > column %.1f)" % (failure["right"], failure["column"])
    return text


def run_checks(chromium, html_dir, pages, widths, jobs, verbose):
    """Returns (failure lines, number of overflows, chromium errors)."""
    work = tempfile.mkdtemp(prefix="layout_check_")
    lines, overflows, errors = [], 0, 0
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            futures = [pool.submit(check_page, chromium, html_dir, p, widths, work) for p in pages]
            outcomes = {}
            for fut in concurrent.futures.as_completed(futures):
                page, results, error = fut.result()
                outcomes[page] = (results, error)
        for page in pages:
            results, error = outcomes[page]
            if error:
                errors += 1
                lines.append("ERROR %s: %s" % (page, error))
                print(lines[-1])
                continue
            for res in results:
                if verbose:
                    counts = ", ".join("%d %s" % (v, k) for k, v in sorted(res.get("counts", {}).items()))
                    col = res.get("column", {})
                    side = res.get("sidebar", {})
                    print("  %s @%dpx: column %s-%s px, sidebar %s px; measured %s; "
                          "%s code lines wrap; %s section titles cut in the tree; %s"
                          % (page, res["width"], col.get("left"), col.get("right"),
                             side.get("width"), counts or "nothing",
                             res.get("wrapped_code_lines", 0), side.get("cut_section_titles", 0),
                             "; ".join(res.get("notes") or [])))
                for f in res["failures"]:
                    overflows += 1
                    lines.append("FAIL %s @%dpx %s" % (page, res["width"], describe(f)))
                    print(lines[-1])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return lines, overflows, errors


PLANT = r"""
<p class="formulaDsp">\[ \tag{99.1} s = a_{1} + a_{2} + a_{3} + a_{4} + a_{5} + a_{6} + a_{7} + a_{8} + a_{9} + a_{10} + a_{11} + a_{12} + a_{13} + a_{14} + a_{15} + a_{16} + a_{17} + a_{18} + a_{19} + a_{20} + a_{21} + a_{22} + a_{23} + a_{24} + a_{25} + a_{26} + a_{27} + a_{28} + a_{29} + a_{30} + a_{31} + a_{32} + a_{33} + a_{34} + a_{35} + a_{36} + a_{37} + a_{38} + a_{39} + a_{40} \]</p>
<p class="formulaDsp">\[ \tag{99.2} t = b_{1} + b_{2} \]</p>
<table class="markdownTable"><tr class="markdownTableHead"><th class="markdownTableHeadLeft">planted wide table</th><th class="markdownTableHeadLeft">%s</th></tr></table>
""" % ("x" * 300)


def self_test(chromium, html_dir, widths, jobs):
    """Plant an over-wide formula and table in a copy of a chapter page."""
    pages = [p for p in book_pages(html_dir) if p.startswith("ch")]
    if not pages:
        print("self-test: no chapter page in %s" % html_dir)
        return 2
    victim = pages[0]
    copy = tempfile.mkdtemp(prefix="layout_selftest_")
    try:
        for name in os.listdir(html_dir):
            if name != victim:
                os.symlink(os.path.abspath(os.path.join(html_dir, name)), os.path.join(copy, name))
        with open(os.path.join(html_dir, victim), encoding="utf-8") as f:
            text = f.read()
        marker = '<div class="contents">'
        if marker not in text:
            print("self-test: %s has no %s" % (victim, marker))
            return 2
        with open(os.path.join(copy, victim), "w", encoding="utf-8") as f:
            f.write(text.replace(marker, marker + PLANT, 1))
        print("self-test: planted an over-wide formula (\\tag{99.1}), a narrow one "
              "(\\tag{99.2}) and an over-wide table in a copy of %s" % victim)
        lines, overflows, errors = run_checks(chromium, copy, [victim], widths, jobs, False)
    finally:
        shutil.rmtree(copy, ignore_errors=True)
    ok = errors == 0
    for w in widths:
        tag = "@%dpx " % w
        mine = [l for l in lines if tag in l]
        wide = any("formula: Eq. 99.1" in l for l in mine)
        table = any("planted wide table" in l for l in mine)
        narrow = any("Eq. 99.2" in l for l in mine)
        print("self-test @%dpx: wide formula %s, wide table %s, narrow formula %s"
              % (w, "reported" if wide else "MISSED", "reported" if table else "MISSED",
                 "REPORTED (wrong)" if narrow else "not reported"))
        ok = ok and wide and table and not narrow
    print("layout self-test: %s (%d overflows found on the planted page)"
          % ("PASS" if ok else "FAIL", overflows))
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("html_dir", help="the book's HTML folder (build/book/html)")
    ap.add_argument("--widths", default=DEFAULT_WIDTHS,
                    help="window widths in px, comma-separated (default %s)" % DEFAULT_WIDTHS)
    ap.add_argument("--pages", help="comma-separated page files (default: index.html and "
                    "every page written from chapters/*.md)")
    ap.add_argument("--jobs", type=int, default=2, help="Chromium runs at once (default 2)")
    ap.add_argument("--chromium", help="the browser to run (default: chromium on PATH)")
    ap.add_argument("--self-test", action="store_true",
                    help="plant an over-wide formula and table in a copy of a page "
                    "and check that they are reported")
    ap.add_argument("--verbose", action="store_true", help="print what was measured")
    args = ap.parse_args()

    html_dir = args.html_dir
    if not os.path.isdir(html_dir):
        print("layout_check: no such folder: %s" % html_dir, file=sys.stderr)
        return 2
    try:
        widths = [int(w) for w in args.widths.split(",") if w.strip()]
    except ValueError:
        print("layout_check: --widths wants integers, got %r" % args.widths, file=sys.stderr)
        return 2
    chromium = find_chromium(args.chromium)
    if not chromium:
        print("layout_check: no chromium found (Debian package `chromium`)", file=sys.stderr)
        return 2
    if args.self_test:
        return self_test(chromium, html_dir, widths, args.jobs)

    pages = args.pages.split(",") if args.pages else book_pages(html_dir)
    missing = [p for p in pages if not os.path.isfile(os.path.join(html_dir, p))]
    if not pages or missing:
        print("layout_check: no pages to check%s" % (": missing " + ", ".join(missing) if missing else ""),
              file=sys.stderr)
        return 2
    lines, overflows, errors = run_checks(chromium, html_dir, pages, widths, args.jobs, args.verbose)
    print("layout: %d pages x %d widths, %d overflows%s"
          % (len(pages), len(widths), overflows,
             ", %d pages not measured" % errors if errors else ""))
    if errors:
        return 2
    return 1 if overflows else 0


if __name__ == "__main__":
    sys.exit(main())
