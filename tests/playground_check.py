#!/usr/bin/python3
"""Do the book's playgrounds show what the native library computes, in a
real browser?

Usage:
    playground_check.py HTML_DIR --native build/book_playground
                        [--cases tests/playgrounds] [--pages a.html,...]
                        [--screenshots DIR] [--chromium PATH] [--verbose]
    playground_check.py HTML_DIR --native build/book_playground --self-test

It opens every page of the built book that holds a playground
(<div data-playground="chNN-name">) in headless Chromium, from file://,
with no network, and drives Chromium through its DevTools protocol over a
pipe (--remote-debugging-pipe; no server, no extra package). On each page
it waits for the playgrounds to start (bookPlayground.ready, which says
"missing" when the WebAssembly module was not built: a failure here), and
for every playground:

  1. reads its initial state, then applies each case of
     tests/playgrounds/*.json in turn: a case sets the playground's
     controls (by their data-control names, firing the events a reader's
     input fires) and may name inputs the page must then send the module
     ("expect_input"), which checks that the controls mean what they say;
  2. runs the native program (book_playground NAME, the library compiled
     by g++ with BLAS) on the very input text the page sent the module,
     and compares
       - the numbers the page shows in its data-output element (the
         outputs named by data-output="KEY ...", in order), and
       - every output the module returned,
     with the native ones: equal NaN and infinities, and finite numbers
     within 1e-12 of each other relative to the largest magnitude in the
     same output;
  3. fails on any console error, uncaught exception or failed load on
     the page, and on a case whose playground is on no page, or a
     playground without a case.

--screenshots DIR saves a PNG of each playground at its initial state and
after each case (DIR/<name>-0.png, -1.png, ...), for looking at.

--self-test checks the check, on chapter 0's page copied to a temporary
folder: (a) with the module replaced by the stand-in that
code/tools/build_wasm.cmake writes when Emscripten is missing, every
playground must say so and log no error; (b) with a data-output number
planted 1e-9 off, the comparison must fail.

Exit status: 0 when everything agrees, 1 on a failure, 2 on a usage error
or when Chromium cannot be run.
"""

import argparse
import base64
import fcntl
import glob
import json
import math
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import time

TOLERANCE = 1e-12
PLAYGROUND_RE = re.compile(r'data-playground="([a-z0-9-]+)"')


class Failure(Exception):
    pass


class Browser:
    """Headless Chromium driven over the DevTools protocol's pipe
    (fd 3: commands in, fd 4: replies out, messages ending in NUL)."""

    def __init__(self, chromium, timeout=60):
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="pg-chromium-")
        to_chrome_r, self.to_chrome = os.pipe()
        self.from_chrome, from_chrome_w = os.pipe()

        def child_fds():
            # Move both ends above 10 first, so that dup2 to 3 and 4 can
            # never clobber one with the other, and so that both lose
            # close-on-exec.
            a = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD, 10)
            b = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-quic", "--no-first-run",
             "--disable-background-networking",
             "--disable-component-update", "--disable-sync",
             "--remote-debugging-pipe",
             "--user-data-dir=" + self.profile, "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, close_fds=False,
            preexec_fn=child_fds)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self.buffer = b""
        self.next_id = 0
        self.errors = []
        self.session = None
        targets = self.call("Target.getTargets")["targetInfos"]
        page = [t for t in targets if t["type"] == "page"]
        if not page:
            raise Failure("Chromium opened no page")
        self.session = self.call("Target.attachToTarget",
                                 {"targetId": page[0]["targetId"],
                                  "flatten": True}, browser=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.call(domain + ".enable")
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": 1024, "height": 900, "deviceScaleFactor": 1,
                   "mobile": False})

    def close(self):
        try:
            self.proc.kill()
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            pass
        for fd in (self.to_chrome, self.from_chrome):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self.profile, ignore_errors=True)

    def _messages(self, deadline):
        while True:
            while b"\0" in self.buffer:
                raw, self.buffer = self.buffer.split(b"\0", 1)
                yield json.loads(raw)
            left = deadline - time.monotonic()
            if left <= 0:
                raise Failure("Chromium did not answer in %d s" % self.timeout)
            ready, _, _ = select.select([self.from_chrome], [], [], left)
            if ready:
                chunk = os.read(self.from_chrome, 1 << 20)
                if not chunk:
                    raise Failure("Chromium closed its pipe")
                self.buffer += chunk

    def _note(self, m):
        """Keeps every error the page reports."""
        method, p = m.get("method"), m.get("params", {})
        if method == "Runtime.exceptionThrown":
            d = p["exceptionDetails"]
            text = d.get("exception", {}).get("description") or d.get("text")
            self.errors.append("uncaught: " + str(text).splitlines()[0])
        elif method == "Runtime.consoleAPICalled" and p["type"] in (
                "error", "assert"):
            args = " ".join(str(a.get("value", a.get("description", "")))
                            for a in p.get("args", []))
            self.errors.append("console.%s: %s" % (p["type"], args))
        elif method == "Log.entryAdded" and p["entry"]["level"] == "error":
            e = p["entry"]
            self.errors.append("%s: %s %s" % (e["source"], e["text"],
                                              e.get("url", "")))

    def wait_for(self, predicate):
        deadline = time.monotonic() + self.timeout
        for m in self._messages(deadline):
            self._note(m)
            if predicate(m):
                return m

    def call(self, method, params=None, browser=False):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if self.session and not browser:
            msg["sessionId"] = self.session
        os.write(self.to_chrome, json.dumps(msg).encode() + b"\0")
        wanted = self.next_id
        reply = self.wait_for(lambda m: m.get("id") == wanted)
        if "error" in reply:
            raise Failure("%s: %s" % (method, reply["error"].get("message")))
        return reply["result"]

    def navigate(self, url):
        self.call("Page.navigate", {"url": url})
        self.wait_for(lambda m: m.get("method") == "Page.loadEventFired")

    def evaluate(self, expression):
        r = self.call("Runtime.evaluate", {"expression": expression,
                                           "awaitPromise": True,
                                           "returnByValue": True})
        if "exceptionDetails" in r:
            d = r["exceptionDetails"]
            text = d.get("exception", {}).get("description") or d.get("text")
            raise Failure(str(text).splitlines()[0])
        return r["result"].get("value")

    def screenshot(self, selector, path):
        """A PNG of one element. Doxygen's pages scroll inside
        #doc-content, not the window, so the element is scrolled into
        view and clipped in viewport coordinates, in a viewport made tall
        enough to hold it."""
        find = "document.querySelector(%s)" % json.dumps(selector)
        # Doxygen's footer is fixed at the bottom of the window: hide it.
        self.evaluate("document.querySelectorAll('#nav-path, .navpath')"
                      ".forEach(e => e.style.display = 'none')")
        height = self.evaluate(find + ".getBoundingClientRect().height")
        tall = max(900, int(height) + 40)
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": 1024, "height": tall, "deviceScaleFactor": 1,
                   "mobile": False})
        box = self.evaluate(
            "(() => { const e = %s; e.scrollIntoView();"
            " const r = e.getBoundingClientRect();"
            " return [r.x, r.y, r.width, r.height]; })()" % find)
        shot = self.call("Page.captureScreenshot", {
            "format": "png",
            "clip": {"x": box[0], "y": box[1], "width": box[2],
                     "height": box[3], "scale": 1}})
        with open(path, "wb") as f:
            f.write(base64.b64decode(shot["data"]))
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": 1024, "height": 900, "deviceScaleFactor": 1,
                   "mobile": False})


def parse_outputs(text):
    """'name: v v v' lines -> {name: [floats]}."""
    out = {}
    for line in text.splitlines():
        if ":" in line:
            name, words = line.split(":", 1)
            out[name] = [float(w) for w in words.split()]
    return out


def compare(what, got, expected):
    """Empty when equal within TOLERANCE, else one line naming the first
    entry that differs."""
    if len(got) != len(expected):
        return "%s: %d numbers, the native library gives %d" % (
            what, len(got), len(expected))
    finite = [abs(x) for x in expected if math.isfinite(x)]
    scale = max(finite) if finite else 0.0
    for k, (g, e) in enumerate(zip(got, expected)):
        if math.isnan(e) or math.isinf(e):
            same = (math.isnan(g) and math.isnan(e)) or g == e
        else:
            same = math.isfinite(g) and abs(g - e) <= TOLERANCE * scale
        if not same:
            return "%s[%d]: page %r, native %r" % (what, k, g, e)
    return ""


def run_native(native, name, text):
    p = subprocess.run([native, name], input=text, capture_output=True,
                       text=True, timeout=60)
    if p.returncode != 0:
        raise Failure("native %s refused the page's input: %s"
                      % (name, p.stderr.strip()))
    return parse_outputs(p.stdout)


def check_state(native, name, state, expect_input, label):
    """Compares one state of a playground with the native program."""
    if state["error"]:
        raise Failure("%s: the page shows an error: %s" % (label,
                                                           state["error"]))
    sent = parse_outputs(state["input"])
    for key, value in (expect_input or {}).items():
        want = [float(v) for v in (value if isinstance(value, list)
                                   else [value])]
        if sent.get(key) != want:
            raise Failure("%s: the page sent %s = %s, the case expects %s"
                          % (label, key, sent.get(key), want))
    native_out = run_native(native, name, state["input"])
    module_out = parse_outputs(state["output"])
    if set(module_out) != set(native_out):
        raise Failure("%s: module outputs %s, native %s" % (
            label, sorted(module_out), sorted(native_out)))
    for key in native_out:
        msg = compare("%s module %s" % (label, key), module_out[key],
                      native_out[key])
        if msg:
            raise Failure(msg)
    keys = state["keys"].split()
    if not keys:
        raise Failure("%s: no data-output element names its outputs" % label)
    expected = []
    for key in keys:
        if key not in native_out:
            raise Failure("%s: data-output names %s, not an output" % (
                label, key))
        expected += native_out[key]
    shown = [float(w) for w in state["shown"].split()]
    msg = compare("%s shown (%s)" % (label, " ".join(keys)), shown, expected)
    if msg:
        raise Failure(msg)
    return len(shown)


def load_cases(folder):
    cases = {}
    for path in sorted(glob.glob(os.path.join(folder, "*.json"))):
        with open(path) as f:
            try:
                entries = json.load(f)
            except ValueError as e:
                raise Failure("%s: not JSON: %s" % (path, e))
        for entry in entries:
            cases.setdefault(entry["playground"], []).append(entry)
    return cases


def pages_with_playgrounds(html_dir, only):
    pages = {}
    for path in sorted(glob.glob(os.path.join(html_dir, "*.html"))):
        name = os.path.basename(path)
        if only and name not in only:
            continue
        with open(path, encoding="utf-8") as f:
            found = PLAYGROUND_RE.findall(f.read())
        if found:
            pages[name] = found
    return pages


def check_pages(args, browser, pages, cases, report):
    failures = 0
    checked = 0
    for page, names in pages.items():
        url = "file://" + os.path.abspath(os.path.join(args.html_dir, page))
        browser.errors = []
        try:
            browser.navigate(url)
            state = browser.evaluate(
                "typeof bookPlayground === 'undefined' ? 'no script'"
                " : bookPlayground.ready")
            if state != "ready":
                raise Failure("%s: the playgrounds did not start (%s)"
                              % (page, state))
            # Let MathJax finish typesetting, so that nothing moves under
            # the screenshots.
            browser.evaluate(
                "new Promise(r => (window.MathJax && MathJax.Hub)"
                " ? MathJax.Hub.Queue(() => r(true)) : r(true))")
        except Failure as e:
            report("FAIL %s: %s" % (page, e))
            failures += 1
            continue
        for name in names:
            label = "%s %s" % (page, name)
            try:
                sel = '[data-playground="%s"]' % name
                state = browser.evaluate("bookPlayground.read(%s)"
                                         % json.dumps(name))
                n = check_state(args.native, name, state, None,
                                label + " initial")
                if args.screenshots:
                    browser.screenshot(sel, os.path.join(
                        args.screenshots, "%s-0.png" % name))
                for k, case in enumerate(cases.get(name, []), 1):
                    state = browser.evaluate("bookPlayground.set(%s, %s)" % (
                        json.dumps(name), json.dumps(case["set"])))
                    n += check_state(args.native, name, state,
                                     case.get("expect_input"),
                                     "%s case %d" % (label, k))
                    if args.screenshots:
                        browser.screenshot(sel, os.path.join(
                            args.screenshots, "%s-%d.png" % (name, k)))
                checked += 1
                if args.verbose:
                    report("ok   %s: initial state and %d cases, %d numbers"
                           % (label, len(cases.get(name, [])), n))
            except Failure as e:
                report("FAIL %s" % e)
                failures += 1
        for e in browser.errors:
            report("FAIL %s: %s" % (page, e))
            failures += 1
    return failures, checked


def self_test(args, browser):
    """Checks the check on copies of chapter 0's page."""
    source = os.path.join(args.html_dir, "ch00_introduction.html")
    if not os.path.exists(source):
        print("self-test: %s missing" % source, file=sys.stderr)
        return 2
    problems = 0
    with tempfile.TemporaryDirectory(prefix="pg-self-") as tmp:
        # The book's folder, linked entry by entry; the two scripts the
        # checks change are copies.
        html = os.path.abspath(args.html_dir)
        for entry in os.listdir(html):
            if entry not in ("book_playground.js", "book_playgrounds.js"):
                os.symlink(os.path.join(html, entry), os.path.join(tmp, entry))
        shutil.copy(os.path.join(html, "book_playgrounds.js"), tmp)
        page = "file://" + os.path.join(tmp, "ch00_introduction.html")

        # (a) The stand-in module: every playground says so, no error.
        with open(os.path.join(tmp, "book_playground.js"), "w") as f:
            f.write('window.BookModuleMissing = "planted: no em++";\n')
        browser.errors = []
        browser.navigate(page)
        state = browser.evaluate("bookPlayground.ready")
        said = browser.evaluate(
            "Array.from(document.querySelectorAll('[data-playground]'))"
            ".map(e => e.getAttribute('data-state') + ': ' + e.textContent)")
        if state != "missing" or not said or not all(
                s.startswith("missing: ") and "planted: no em++" in s
                for s in said):
            print("self-test FAIL: with the stand-in module the page "
                  "reports %r, %r" % (state, said))
            problems += 1
        if browser.errors:
            print("self-test FAIL: the stand-in page logged %s"
                  % browser.errors)
            problems += 1

        # (b) A number shown 1e-9 off must be caught.
        shutil.copy(os.path.join(args.html_dir, "book_playground.js"), tmp)
        core = os.path.join(tmp, "book_playgrounds.js")
        with open(core) as f:
            text = f.read()
        planted = text.replace(
            'el.textContent = values.map(String).join(" ");',
            'el.textContent = values.map(function (v, k) {'
            ' return String(k === 0 ? v * (1 + 1e-9) : v); }).join(" ");')
        if planted == text:
            print("self-test FAIL: could not plant the fault (the line that"
                  " writes data-output changed)")
            return 1
        with open(core, "w") as f:
            f.write(planted)
        sub = argparse.Namespace(**vars(args))
        sub.html_dir = tmp
        sub.screenshots = None
        lines = []
        failures, _ = check_pages(
            sub, browser, {"ch00_introduction.html":
                           PLAYGROUND_RE.findall(open(source).read())},
            {}, lines.append)
        if failures == 0 or not any("shown" in l for l in lines):
            print("self-test FAIL: a planted 1e-9 error went unnoticed: %s"
                  % lines)
            problems += 1
    print("self-test: %s" % ("passed" if not problems else
                             "%d problems" % problems))
    return 1 if problems else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("html_dir")
    ap.add_argument("--native", required=True)
    ap.add_argument("--cases", default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "playgrounds"))
    ap.add_argument("--pages", default="")
    ap.add_argument("--screenshots")
    ap.add_argument("--chromium", default=shutil.which("chromium")
                    or "/usr/bin/chromium")
    ap.add_argument("--self-test", action="store_true")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    if not os.path.isdir(args.html_dir):
        print("playground_check.py: expected the book's HTML folder, got %r"
              % args.html_dir, file=sys.stderr)
        return 2
    if not os.access(args.native, os.X_OK):
        print("playground_check.py: expected the native program "
              "book_playground, got %r" % args.native, file=sys.stderr)
        return 2
    if not os.access(args.chromium, os.X_OK):
        print("playground_check.py: Chromium not found (Debian package "
              "chromium)", file=sys.stderr)
        return 2
    if args.screenshots:
        os.makedirs(args.screenshots, exist_ok=True)
    try:
        browser = Browser(args.chromium)
    except (OSError, Failure) as e:
        print("playground_check.py: cannot run Chromium: %s" % e,
              file=sys.stderr)
        return 2
    try:
        if args.self_test:
            return self_test(args, browser)
        only = set(p for p in args.pages.split(",") if p)
        pages = pages_with_playgrounds(args.html_dir, only)
        cases = load_cases(args.cases)
        failures = 0
        on_pages = {n for names in pages.values() for n in names}
        if not only:
            for name in sorted(set(cases) - on_pages):
                print("FAIL %s: has cases but is on no page" % name)
                failures += 1
        for name in sorted(on_pages - set(cases)):
            print("FAIL %s: no case in %s sets its controls" % (
                name, args.cases))
            failures += 1
        f, checked = check_pages(args, browser, pages, cases, print)
        failures += f
        print("playgrounds: %d on %d pages checked against the native "
              "library, %d failures" % (checked, len(pages), failures))
        return 1 if failures or not pages else 0
    finally:
        browser.close()


if __name__ == "__main__":
    sys.exit(main())
