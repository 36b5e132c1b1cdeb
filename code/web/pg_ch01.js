// Chapter 1: "ch01-additive", Bahdanau attention (Eqs. 1.2 to 1.4) for a
// decoder state the reader picks against the six annotations of the
// chapter's random encoder example; "ch01-alignment", the alignment of the
// trained reversal model (its parameters are the program's pg_ch01_*.npy)
// on a source sequence the reader types (code/web/pg_ch01.hpp computes).
bookPlayground.define("ch01-additive", function (pg) {
  var show = bookPlayground.show, element = bookPlayground.element;
  function vec(v, digits) {
    return "(" + v.map(function (x) { return show(x, digits); }).join(", ")
      + ")";
  }

  var controls = element("div", {"class": "pg-controls"}, pg.body);
  var row = pg.select({
    key: "row", label: "decoder state qᵢ₋₁", value: 0,
    options: [[0, "q₋₁ of the program (i = 0)"],
              [1, "q₀ of the program (i = 1)"],
              [2, "q₁ of the program (i = 2)"],
              [3, "q₂ of the program (i = 3)"],
              [4, "my own: the three sliders"]]
  }, controls);
  var own = [1, -0.5, 0.5].map(function (v, k) {
    return pg.slider({key: "q" + k, label: "my qᵢ₋₁, entry " + k,
                      min: -3, max: 3, step: 0.25, value: v}, controls);
  });

  var state = element("p", {}, pg.body);
  var table = element("table", {"class": "pg-table"}, pg.body);
  var head = element("tr", {}, table);
  ["source word j", "energy eᵢⱼ (Eq. 1.2)", "weight aᵢⱼ (Eq. 1.3)"]
    .forEach(function (t) { element("th", {scope: "col", text: t}, head); });
  var cells = [0, 1, 2, 3, 4, 5].map(function (j) {
    var tr = element("tr", {}, table);
    element("td", {text: String(j)}, tr);
    return [element("td", {}, tr), element("td", {}, tr)];
  });
  var answer = element("p", {"class": "pg-result", "aria-live": "polite"},
                       pg.body);

  pg.update(function () {
    var mine = Number(row.value) === 4;
    own.forEach(function (s) { s.disabled = !mine; });
    var out = pg.compute({row: Number(row.value),
                          q: own.map(function (s) { return s.number(); })});
    if (!out) { return; }
    state.textContent = "Scoring the decoder state qᵢ₋₁ = "
      + vec(out.q_used, 3) + " against the annotations h₀, …, h₅.";
    var best = out.a.indexOf(Math.max.apply(null, out.a));
    cells.forEach(function (c, j) {
      c[0].textContent = show(out.e[j], 4);
      c[1].textContent = show(out.a[j], 4);
      c[1].style.background = "linear-gradient(90deg, #c5d3ea "
        + (100 * out.a[j]) + "%, transparent 0)";
    });
    answer.textContent = "Context cᵢ = Σⱼ aᵢⱼ hⱼ (Eq. 1.4) = "
      + vec(out.c, 3) + ". The largest weight, " + show(out.a[best], 3)
      + ", is on h" + "₀₁₂₃₄₅"[best] + ".";
    pg.output(["e", "a", "c"], out);
  });
});

bookPlayground.define("ch01-alignment", function (pg) {
  var element = bookPlayground.element;
  var data = window.BookPlaygroundData || {};
  var names = ["W_a", "U_a", "v_a", "W_r", "b_r", "E", "x"];
  if (names.some(function (n) { return !data["ch01_" + n]; })) {
    element("p", {"class": "pg-missing", text: "The trained model's "
      + "parameters (pg_ch01_*.npy, written by ch01_bahdanau --out) are "
      + "missing from this copy of the book."}, pg.body);
    return;
  }
  function letter(t) {
    return t >= 0 && t < 26 ? String.fromCharCode(97 + t) : "?";
  }
  var start = data.ch01_x.data.map(letter).join("");

  var controls = element("div", {"class": "pg-controls"}, pg.body);
  var source = pg.textField({key: "source", value: start, size: 12,
    label: "source tokens x₀ … x₇ (8 letters from a to h)"}, controls);
  var map = element("div", {}, pg.body);
  var answer = element("p", {"class": "pg-result", "aria-live": "polite"},
                       pg.body);

  pg.update(function () {
    var text = source.value.toLowerCase().replace(/\s+/g, "");
    var x = text.split("").map(function (ch) {
      return /[a-z]/.test(ch) ? ch.charCodeAt(0) - 97 : NaN;
    });
    var inputs = {x: x};
    names.slice(0, 6).forEach(function (n) {
      inputs[n] = data["ch01_" + n].data;
    });
    var out = pg.compute(inputs);
    if (!out) {
      map.textContent = "";
      answer.textContent = "";
      return;
    }
    var T = 8;
    var rows = [], cols = [];
    for (var i = 0; i < T; ++i) {
      rows.push(i + ": " + letter(out.y[i]));
      cols.push(i + ": " + letter(x[i]));
    }
    pg.heatmap(map, out.a, T, T, {
      caption: "Weights aᵢⱼ: target position i (with the token it "
        + "outputs) by source position j (with its token)",
      rowLabels: rows, colLabels: cols, lo: 0, hi: 1
    });
    var reversed = x.slice().reverse().map(letter).join(" ");
    var output = out.y.map(letter).join(" ");
    answer.textContent = "Output: " + output + (output === reversed
      ? " (the source reversed). " : "; the source reversed is "
      + reversed + ". ") + out.aligned[0] + " of 8 rows put their largest "
      + "weight on the right source position j = 7 − i.";
    pg.output(["a", "y"], out);
  });
});
