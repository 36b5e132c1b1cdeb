// Chapter 7: "ch07-induction", the chapter's main two-layer model (seed 1)
// on a sequence the reader types: each head's weights and the prediction
// at each position (code/web/pg_ch07.hpp computes; the weights come from
// ch07_layers' pg_ch07_*.npy, packed into window.BookPlaygroundData).
bookPlayground.define("ch07-induction", function (pg) {
  var show = bookPlayground.show, element = bookPlayground.element;
  var vocab = 16, nMax = 16, heads = 2, layers = 2;
  var names = ["W_E", "W_P", "W_U"];
  for (var l = 0; l < layers; ++l) {
    ["W_q", "W_k", "W_v", "W_o", "b_o"].forEach(function (w) {
      names.push(w + "_" + l);
    });
  }
  var data = window.BookPlaygroundData || {};
  var missing = names.filter(function (w) { return !data["ch07_" + w]; });
  if (missing.length) {
    element("p", {"class": "pg-missing", text: "This copy of the book was "
      + "built without the trained model's weights (ch07_layers writes "
      + "them with --out): missing " + missing.join(", ") + "."}, pg.body);
    return;
  }
  var weights = {};
  names.forEach(function (w) { weights[w] = data["ch07_" + w].data; });

  // A repeated random sequence like the chapter's task: a random start, a
  // random segment of r tokens (4 <= r <= 8), and the segment again, 16
  // tokens in all. The generator (mulberry32) is seeded, so that a preset
  // is the same on every machine.
  function presetTokens(seed) {
    var state = seed >>> 0;
    function below(k) {
      state = (state + 0x6D2B79F5) >>> 0;
      var t = Math.imul(state ^ (state >>> 15), 1 | state);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return Math.floor(((t ^ (t >>> 14)) >>> 0) / 4294967296 * k);
    }
    var r = 4 + below(5), t = [];
    for (var i = 0; i < nMax; ++i) {
      t.push(i + r < nMax ? below(vocab) : t[i - r]);
    }
    return t;
  }

  var controls = element("div", {"class": "pg-controls"}, pg.body);
  var field = pg.textField({key: "tokens", size: 40,
                            label: "tokens (0 to 15, at most 16)",
                            value: presetTokens(1).join(" ")},
                           controls);
  var presets = 1;
  var button = element("button", {type: "button", "data-control": "preset",
                                  text: "Type a repeated random sequence"},
                       element("div", {"class": "pg-control"}, controls));
  // Tests set data-control "preset" to a number: the preset of that seed.
  button.bookSet = function (seed) {
    presets = Number(seed);
    field.value = presetTokens(presets).join(" ");
    pg.changed();
  };
  button.addEventListener("click", function () {
    button.bookSet(presets + 1);
  });

  var table = element("table", {"class": "pg-table"}, pg.body);
  var maps = element("div", {style: "display: flex; flex-wrap: wrap"},
                     pg.body);
  var boxes = [];
  for (var k = 0; k < layers * heads; ++k) {
    boxes.push(element("div", {}, maps));
  }
  var answer = element("p", {"class": "pg-result", "aria-live": "polite"},
                       pg.body);

  function parse() {
    var words = field.value.trim().split(/[\s,]+/).filter(function (w) {
      return w !== "";
    });
    var bad = words.filter(function (w) {
      return !/^[0-9]+$/.test(w) || Number(w) >= vocab;
    });
    if (words.length === 0 || words.length > nMax || bad.length) {
      pg.error.textContent = words.length === 0
        ? "Type at least one token."
        : words.length > nMax
        ? "The model knows " + nMax + " positions; you typed "
          + words.length + " tokens."
        : "Tokens are the whole numbers 0 to " + (vocab - 1) + ": '"
          + bad[0] + "' is not one.";
      return null;
    }
    return words.map(Number);
  }

  // Cells without numbers (hover shows them), small enough for two maps
  // of 16 x 16 side by side.
  function compact(container) {
    container.style.marginRight = "0.5em";
    container.querySelectorAll("td").forEach(function (td) {
      td.style.minWidth = "0.95em";
      td.style.width = "0.95em";
      td.style.height = "0.95em";
      td.style.padding = "0";
    });
    container.querySelectorAll("th").forEach(function (th) {
      th.style.fontSize = "0.7em";
      th.style.padding = "0 0.2em";
    });
  }

  // Nothing stays on show for tokens that were refused.
  function clear() {
    table.textContent = "";
    boxes.forEach(function (b) { b.textContent = ""; b.className = ""; });
    answer.textContent = "";
  }

  pg.update(function () {
    var tokens = parse();
    if (!tokens) { clear(); return; }
    var input = {tokens: tokens};
    names.forEach(function (w) { input[w] = weights[w]; });
    var out = pg.compute(input);
    if (!out) { clear(); return; }
    var n = tokens.length;

    table.textContent = "";
    var rows = [["position i", function (i) { return String(i); }],
                ["token tᵢ", function (i) { return String(tokens[i]); }],
                ["predicted tᵢ₊₁", function (i) {
                  return String(out.prediction[i]); }],
                ["probability (%)", function (i) {
                  return String(Math.round(100 * out.p_top[i])); }]];
    rows.forEach(function (row) {
      var tr = element("tr", {}, table);
      element("th", {scope: "row", text: row[0], style: "text-align: left"},
              tr);
      for (var i = 0; i < n; ++i) {
        var td = element("td", {text: row[1](i),
                                style: "padding: 0.1em 0.25em"}, tr);
        if (row[0] !== "position i" && row[0] !== "token tᵢ" && i + 1 < n
            && out.prediction[i] === tokens[i + 1]) {
          td.style.background = "#c5d3ea";
        }
      }
    });

    var labels = tokens.map(function (t, i) { return i + ":" + t; });
    for (var l = 0; l < layers; ++l) {
      for (var h = 0; h < heads; ++h) {
        var a = out["a_" + l].slice(h * n * n, (h + 1) * n * n);
        pg.heatmap(boxes[l * heads + h], a, n, n, {
          caption: "layer " + l + ", head " + h, lo: 0, hi: 1,
          rowLabels: labels, colLabels: tokens.map(String),
          cellText: function () { return ""; }
        });
        compact(boxes[l * heads + h]);
      }
    }

    var right = 0, copies = 0;
    for (var i = 0; i + 1 < n; ++i) {
      for (var j = 0; j < i; ++j) {
        if (tokens[j] === tokens[i]) {
          copies += 1;
          if (out.prediction[i] === tokens[i + 1]) { right += 1; }
          break;
        }
      }
    }
    answer.textContent = "Rows are queries i, columns keys j (labelled "
      + "i:tᵢ and tⱼ). At the " + copies + " position"
      + (copies === 1 ? "" : "s") + " whose token occurred before and "
      + "whose next token is typed, the model predicted that next token "
      + right + " time" + (right === 1 ? "" : "s") + ". Blue marks every "
      + "position, copied or not, whose prediction is the token typed next.";
    pg.output(["prediction", "p_top", "a_1"], out);
  });
});
