// The book's playgrounds: the page side. Every number a playground shows is
// computed by the book's C++ library compiled to WebAssembly
// (book_playground.js, built from code/web/playground.cpp); this file only
// draws controls, sends their values to the module and draws what comes
// back.
//
// A chapter page holds <div class="playground" data-playground="chNN-name">
// (the \playground{} alias of the Doxyfile). Each chapter's file
// (code/web/pg_chNN.js, joined after this one into book_playgrounds.js)
// defines what to draw inside:
//
//     bookPlayground.define("ch00-lookup", function (pg) { ... });
//
// and pg (a Playground, below) offers labelled controls, heatmaps, a
// number line and pg.compute(inputs), which runs the module on named
// arrays and returns named arrays. Each playground writes its main result,
// every number in full, into its element with data-output="KEY KEY ...":
// the keys of the module's outputs it shows, in order. That is what
// tests/playground_check.py reads, in headless Chromium, and compares
// with the native program's output for the same inputs (pg.lastInput).
(function () {
  "use strict";

  var definitions = {};
  var instances = {};
  var module = null;

  // ------------------------------------------------ text in, text out
  // Inputs: {name: number | [numbers] | [[numbers]]} -> "name: v v v" lines.
  // String(x) is the shortest text that reads back as the same double.
  function encode(inputs) {
    var lines = [];
    Object.keys(inputs).forEach(function (name) {
      var v = inputs[name];
      var flat = [].concat.apply([], [].concat(v).map(function (x) {
        return [].concat(x);
      }));
      lines.push(name + ": " + flat.map(function (x) {
        return String(Number(x));
      }).join(" "));
    });
    return lines.join("\n") + "\n";
  }

  // "name: v v v" lines -> {name: [numbers]}; "error: ..." -> throws.
  function decode(text) {
    if (text.indexOf("error: ") === 0) {
      throw new Error(text.slice(7).trim());
    }
    var out = {};
    text.split("\n").forEach(function (line) {
      var colon = line.indexOf(":");
      if (colon < 0) { return; }
      var words = line.slice(colon + 1).trim();
      out[line.slice(0, colon)] = words === "" ? [] :
        words.split(/\s+/).map(Number);
    });
    return out;
  }

  // How a number is shown to a reader (the data-output element keeps
  // every digit).
  function show(x, digits) {
    if (Number.isNaN(x)) { return "NaN"; }
    if (!Number.isFinite(x)) { return x > 0 ? "∞" : "−∞"; }
    var d = digits === undefined ? 3 : digits;
    var s = Math.abs(x) >= 1e5 || (x !== 0 && Math.abs(x) < 1e-3)
      ? x.toExponential(d - 1) : x.toFixed(d);
    if (/^-0(\.0*)?$/.test(s)) { s = s.slice(1); }  // no "−0.00"
    return s.replace("-", "−");
  }

  function element(tag, attrs, parent) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") { e.textContent = attrs[k]; }
      else { e.setAttribute(k, attrs[k]); }
    });
    if (parent) { parent.appendChild(e); }
    return e;
  }

  // A colour for v in [lo, hi]: white to the book's blue; when the range
  // holds both signs, white at 0, blue above and orange below. NaN is grey.
  // Returns [css colour, intensity in 0..1].
  function colour(v, lo, hi) {
    if (Number.isNaN(v)) { return ["#bbbbbb", 0]; }
    var to = [23, 50, 92], t;
    if (lo < 0 && hi > 0) {
      var m = Math.max(-lo, hi);
      t = Math.abs(v) / m;
      if (v < 0) { to = [166, 77, 0]; }
    } else {
      t = hi > lo ? (v - lo) / (hi - lo) : 0;
    }
    t = Math.max(0, Math.min(1, t));
    var c = to.map(function (x) { return Math.round(255 + t * (x - 255)); });
    return ["rgb(" + c.join(",") + ")", t];
  }

  // ------------------------------------------------------ a playground
  function Playground(name, el) {
    this.name = name;
    this.el = el;
    this.lastInput = "";
    this.lastOutput = "";
    this.onchange = null;
    this.body = element("div", {"class": "pg-body"}, el);
    this.error = element("p", {"class": "pg-error", role: "alert"}, el);
  }

  // Runs the module on {name: array}; returns {name: [numbers]}, or null
  // after showing the library's message when it refuses the input.
  Playground.prototype.compute = function (inputs) {
    var text = encode(inputs);
    this.lastInput = text;
    var out = module.ccall("book_run", "string", ["string", "string"],
                           [this.name, text]);
    this.lastOutput = out;
    try {
      var result = decode(out);
      this.error.textContent = "";
      return result;
    } catch (e) {
      this.error.textContent = "The library refused these inputs: "
        + e.message;
      return null;
    }
  };

  // Calls f now and after every change of a control of this playground.
  Playground.prototype.update = function (f) {
    this.onchange = f;
    f();
  };

  Playground.prototype.changed = function () {
    if (this.onchange) { this.onchange(); }
  };

  // A labelled slider. o: {key, label, min, max, step, value,
  // format(v) -> text}. Returns the <input>; .number() its value.
  Playground.prototype.slider = function (o, parent) {
    var self = this;
    var row = element("div", {"class": "pg-control"}, parent || this.body);
    var id = this.name + "-" + o.key;
    element("label", {"for": id, text: o.label}, row);
    var input = element("input", {
      type: "range", id: id, min: o.min, max: o.max, step: o.step,
      value: o.value, "data-control": o.key
    }, row);
    var shown = element("output", {"for": id}, row);
    var format = o.format || function (v) { return show(v, 2); };
    input.number = function () { return Number(input.value); };
    function refresh() { shown.textContent = format(input.number()); }
    input.addEventListener("input", function () { refresh(); self.changed(); });
    refresh();
    return input;
  };

  // A labelled checkbox: {key, label, checked}. .checked is its state.
  Playground.prototype.checkbox = function (o, parent) {
    var self = this;
    var row = element("div", {"class": "pg-control"}, parent || this.body);
    var id = this.name + "-" + o.key;
    var input = element("input", {type: "checkbox", id: id,
                                  "data-control": o.key}, row);
    input.checked = !!o.checked;
    element("label", {"for": id, text: o.label}, row);
    input.addEventListener("change", function () { self.changed(); });
    return input;
  };

  // A labelled choice: {key, label, options: [[value, text]...], value}.
  Playground.prototype.select = function (o, parent) {
    var self = this;
    var row = element("div", {"class": "pg-control"}, parent || this.body);
    var id = this.name + "-" + o.key;
    element("label", {"for": id, text: o.label}, row);
    var sel = element("select", {id: id, "data-control": o.key}, row);
    o.options.forEach(function (opt) {
      element("option", {value: opt[0], text: opt[1]}, sel);
    });
    sel.value = String(o.value);
    sel.addEventListener("change", function () { self.changed(); });
    return sel;
  };

  // A text field: {key, label, value, size}.
  Playground.prototype.textField = function (o, parent) {
    var self = this;
    var row = element("div", {"class": "pg-control"}, parent || this.body);
    var id = this.name + "-" + o.key;
    element("label", {"for": id, text: o.label}, row);
    var input = element("input", {type: "text", id: id, size: o.size || 24,
                                  value: o.value, "data-control": o.key}, row);
    input.addEventListener("input", function () { self.changed(); });
    return input;
  };

  // A grid of on/off cells, each a button (keyboard: Tab, then Space or
  // Enter). o: {key, label, rows, cols, value: [0/1 row by row],
  // rowLabels, colLabels}. The returned element's .values() gives the
  // cells row by row; setting data-control KEY to "1 0 1 ..." (or to an
  // array) sets them all, which is how the tests set it.
  Playground.prototype.toggleGrid = function (o, parent) {
    var self = this;
    var wrap = element("div", {"class": "pg-grid-wrap"}, parent || this.body);
    element("div", {"class": "pg-caption", text: o.label}, wrap);
    var table = element("table", {"class": "pg-toggles",
                                  "data-control": o.key,
                                  "aria-label": o.label}, wrap);
    var cells = [];
    var head = element("tr", {}, table);
    element("th", {}, head);
    for (var j = 0; j < o.cols; ++j) {
      element("th", {scope: "col", text: o.colLabels ? o.colLabels[j] : j},
              head);
    }
    function paint(b, on) {
      b.setAttribute("aria-pressed", on ? "true" : "false");
      b.textContent = on ? "✓" : "·";
    }
    for (var i = 0; i < o.rows; ++i) {
      var tr = element("tr", {}, table);
      element("th", {scope: "row", text: o.rowLabels ? o.rowLabels[i] : i},
              tr);
      for (var jj = 0; jj < o.cols; ++jj) {
        var td = element("td", {}, tr);
        var b = element("button", {
          type: "button",
          "aria-label": (o.rowLabels ? o.rowLabels[i] : "row " + i) + ", "
            + (o.colLabels ? o.colLabels[jj] : "column " + jj)
        }, td);
        paint(b, o.value[i * o.cols + jj]);
        b.addEventListener("click", (function (button) {
          return function () {
            paint(button, button.getAttribute("aria-pressed") !== "true");
            self.changed();
          };
        })(b));
        cells.push(b);
      }
    }
    table.values = function () {
      return cells.map(function (c) {
        return c.getAttribute("aria-pressed") === "true" ? 1 : 0;
      });
    };
    table.bookSet = function (v) {
      var list = Array.isArray(v) ? v : String(v).trim().split(/\s+/);
      if (list.length !== cells.length) {
        throw new Error(o.key + ": expected " + cells.length
                        + " cells, got " + list.length);
      }
      cells.forEach(function (c, k) { paint(c, Number(list[k]) !== 0); });
      self.changed();
    };
    return table;
  };

  // A heatmap of `values` (rows x cols, row by row) as a table of coloured
  // cells; hovering or focusing a cell shows its value below the map.
  // o: {caption, rowLabels, colLabels, lo, hi, digits}. Redraws in place.
  Playground.prototype.heatmap = function (container, values, rows, cols,
                                           o) {
    o = o || {};
    container.textContent = "";
    container.className = "pg-heatmap";
    var lo = o.lo !== undefined ? o.lo : Math.min.apply(null, values);
    var hi = o.hi !== undefined ? o.hi : Math.max.apply(null, values);
    if (o.caption) {
      element("div", {"class": "pg-caption", text: o.caption}, container);
    }
    var table = element("table", {"aria-label": o.caption || "heatmap"},
                        container);
    var readout = element("div", {"class": "pg-readout",
                                  "aria-live": "polite",
                                  text: "Hover over a cell for its value."});
    if (o.colLabels) {
      var head = element("tr", {}, table);
      element("th", {}, head);
      o.colLabels.forEach(function (l) {
        element("th", {scope: "col", text: l}, head);
      });
    }
    for (var i = 0; i < rows; ++i) {
      var tr = element("tr", {}, table);
      if (o.rowLabels) {
        element("th", {scope: "row", text: o.rowLabels[i]}, tr);
      }
      for (var j = 0; j < cols; ++j) {
        var v = values[i * cols + j];
        var label = (o.rowLabels ? o.rowLabels[i] : "row " + i) + " → "
          + (o.colLabels ? o.colLabels[j] : "column " + j) + ": "
          + show(v, o.digits || 4);
        var td = element("td", {title: label, tabindex: "-1",
                                "aria-label": label}, tr);
        var c = colour(v, lo, hi);
        td.style.background = c[0];
        if (c[1] > 0.55) { td.style.color = "#ffffff"; }
        td.textContent = o.cellText ? o.cellText(v) : show(v, 2);
        td.addEventListener("mouseenter", (function (t) {
          return function () { readout.textContent = t; };
        })(label));
      }
    }
    container.appendChild(readout);
  };

  // Writes the outputs `keys` (of the module's result `out`) into the
  // playground's data-output element, every digit kept, and returns them.
  Playground.prototype.output = function (keys, out, parent) {
    var el = this.el.querySelector("[data-output]");
    if (!el) {
      var box = element("details", {"class": "pg-numbers"},
                        parent || this.el);
      element("summary", {text: "Every digit, as the library computed it"},
              box);
      el = element("pre", {}, box);
    }
    el.setAttribute("data-output", keys.join(" "));
    var values = [];
    keys.forEach(function (k) { values = values.concat(out[k]); });
    el.textContent = values.map(String).join(" ");
    return values;
  };

  // -------------------------------------------------------- start-up
  var resolveReady;
  var ready = new Promise(function (r) { resolveReady = r; });

  function missing(reason) {
    document.querySelectorAll("[data-playground]").forEach(function (el) {
      el.textContent = "";
      element("p", {"class": "pg-missing", text:
        "This playground runs the book's C++ library compiled to "
        + "WebAssembly, and this copy of the book was built without it ("
        + reason + "). Everything else on the page is complete. To get the "
        + "playgrounds, install Debian's emscripten package and run sh "
        + "code/tools/build_book.sh again."}, el);
      el.setAttribute("data-state", "missing");
    });
    resolveReady("missing");
  }

  function start() {
    var els = document.querySelectorAll("[data-playground]");
    if (els.length === 0) { resolveReady("none"); return; }
    if (typeof window.BookModule !== "function") {
      missing(window.BookModuleMissing || "book_playground.js did not load");
      return;
    }
    window.BookModule().then(function (m) {
      module = m;
      els.forEach(function (el) {
        var name = el.getAttribute("data-playground");
        var define = definitions[name];
        el.textContent = "";
        if (!define) {
          throw new Error("no playground is defined as " + name);
        }
        var pg = new Playground(name, el);
        instances[name] = pg;
        define(pg);
        el.setAttribute("data-state", "ready");
      });
      resolveReady("ready");
    });
  }

  // For tests/playground_check.py: sets controls by their data-control
  // names, as a reader would (each change fires the events a reader's
  // would), and reads back what the page shows.
  function set(name, values) {
    var el = document.querySelector('[data-playground="' + name + '"]');
    Object.keys(values).forEach(function (key) {
      var c = el.querySelector('[data-control="' + key + '"]');
      if (!c) { throw new Error(name + ": no control " + key); }
      if (c.bookSet) { c.bookSet(values[key]); return; }
      if (c.type === "checkbox") {
        c.checked = !!values[key];
        c.dispatchEvent(new Event("change"));
        return;
      }
      c.value = String(values[key]);
      if (c.value !== String(values[key])) {
        throw new Error(name + ": control " + key + " took "
                        + c.value + " for " + values[key]);
      }
      c.dispatchEvent(new Event("input"));
      c.dispatchEvent(new Event("change"));
    });
    return read(name);
  }

  function read(name) {
    var pg = instances[name];
    var out = pg.el.querySelector("[data-output]");
    return {
      keys: out ? out.getAttribute("data-output") : "",
      shown: out ? out.textContent : "",
      input: pg.lastInput,
      output: pg.lastOutput,
      error: pg.error.textContent
    };
  }

  window.bookPlayground = {
    define: function (name, f) { definitions[name] = f; },
    ready: ready,
    set: set,
    read: read,
    show: show,
    element: element,
    names: function () { return Object.keys(instances); }
  };

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
