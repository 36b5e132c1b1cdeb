// Chapter 2: "ch02-sentence", self-attention on a short sentence of the
// chapter's hand-made word kinds, with a choice of W_q and the scale
// 1/√dₖ on or off; "ch02-saturation", the softmax of random scores as dₖ
// grows, with and without the scale (code/web/pg_ch02.hpp computes).
bookPlayground.define("ch02-sentence", function (pg) {
  var show = bookPlayground.show, element = bookPlayground.element;
  // The kinds of the chapter's sentence example, in its enum's order.
  var kindNames = ["animal", "thing", "det", "verb", "pron", "prep", "conj",
                   "adj"];
  var kindOf = {the: 2, a: 2, cat: 0, dog: 0, mat: 1, ball: 1, sat: 3,
                was: 3, chased: 3, it: 4, on: 5, because: 6, tired: 7,
                red: 7};

  var controls = element("div", {"class": "pg-controls"}, pg.body);
  var sentence = pg.textField({key: "sentence", size: 34,
    label: "sentence (up to 8 words)",
    value: "the cat sat because it was tired"}, controls);
  var preset = pg.select({key: "preset", label: "query weights W_q", value: 0, options: [
    [0, "the chapter's rules"],
    [1, "each word looks for its own kind"],
    [2, "W_q = 0: no preference"]]}, controls);
  var scale = pg.checkbox({key: "scale", checked: true,
                           label: "divide the scores by √dₖ = √8"}, controls);
  element("p", {text: "Known words and their kinds: " + Object.keys(kindOf)
    .map(function (w) { return w + " (" + kindNames[kindOf[w]] + ")"; })
    .join(", ") + "."}, pg.body);
  var problem = element("p", {"class": "pg-error", role: "alert"}, pg.body);
  var maps = element("div", {}, pg.body);
  var scoreMap = element("div", {}, maps);
  var weightMap = element("div", {}, maps);
  var answer = element("p", {"class": "pg-result", "aria-live": "polite"},
                       pg.body);

  pg.update(function () {
    var words = sentence.value.toLowerCase().trim().split(/\s+/)
      .filter(function (w) { return w !== ""; });
    var unknown = words.filter(function (w) {
      return !Object.prototype.hasOwnProperty.call(kindOf, w);
    });
    problem.textContent = unknown.length ? "Unknown word: " + unknown[0]
      + " (use the words listed above)." : words.length > 8
      ? "At most 8 words, please; this sentence has " + words.length + "."
      : words.length === 0 ? "Type a sentence." : "";
    if (problem.textContent) { return; }
    var out = pg.compute({
      kinds: words.map(function (w) { return kindOf[w]; }),
      preset: Number(preset.value), scale: scale.checked ? 1 : 0});
    if (!out) { return; }
    var n = words.length;
    var labels = words.map(function (w, t) { return t + " " + w; });
    pg.heatmap(scoreMap, out.s, n, n, {
      caption: scale.checked ? "Scores S = QKᵀ/√dₖ" : "Scores QKᵀ (unscaled)",
      rowLabels: labels, colLabels: words, digits: 4});
    pg.heatmap(weightMap, out.a, n, n, {
      caption: "Weights A, the softmax of each row", rowLabels: labels,
      colLabels: words, lo: 0, hi: 1, digits: 4});
    var tops = [];
    for (var i = 0; i < n; ++i) {
      var row = out.a.slice(i * n, (i + 1) * n);
      tops.push(Math.max.apply(null, row));
    }
    var sharpest = Math.max.apply(null, tops);
    var which = words.filter(function (w, t) {
      return sharpest - tops[t] < 1e-12;
    }).map(function (w) { return "“" + w + "”"; });
    answer.textContent = "The largest weight of any row, "
      + show(sharpest, 4) + ", is in the row" + (which.length > 1 ? "s"
      : "") + " of " + which.join(", ") + ".";
    pg.output(["s", "a"], out);
  });
});

bookPlayground.define("ch02-saturation", function (pg) {
  var show = bookPlayground.show, element = bookPlayground.element;
  var controls = element("div", {"class": "pg-controls"}, pg.body);
  var logD = pg.slider({key: "log2_d_k", label: "width dₖ", min: 0, max: 10,
    step: 1, value: 3,
    format: function (v) { return String(Math.pow(2, v)); }}, controls);
  var seed = pg.slider({key: "seed", label: "seed", min: 1, max: 20,
    step: 1, value: 1,
    format: function (v) { return String(v); }}, controls);
  var scale = pg.checkbox({key: "scale", checked: false,
                           label: "divide the scores by √dₖ"}, controls);

  var top = element("div", {}, pg.body);
  var map = element("div", {}, top);
  var rowsBox = element("div", {"class": "pg-heatmap"}, top);
  var rowTable = element("table", {"class": "pg-table"}, rowsBox);
  var sweepTable = element("table", {"class": "pg-table"}, pg.body);

  function header(table, names) {
    var tr = element("tr", {}, table);
    names.forEach(function (t) { element("th", {scope: "col", text: t}, tr); });
  }

  pg.update(function () {
    var d_k = Math.pow(2, logD.number());
    var out = pg.compute({d_k: d_k, seed: seed.number(),
                          scale: scale.checked ? 1 : 0});
    if (!out) { return; }
    var keys = [], queries = [];
    for (var j = 0; j < 8; ++j) { keys.push("k" + "₀₁₂₃₄₅₆₇"[j]); }
    for (var i = 0; i < 4; ++i) { queries.push("q" + "₀₁₂₃"[i]); }
    pg.heatmap(map, out.a, 4, 8, {
      caption: "Weights of 4 random queries over 8 random keys, dₖ = "
        + d_k + (scale.checked ? ", scaled" : ", unscaled"),
      rowLabels: queries, colLabels: keys, lo: 0, hi: 1, digits: 4});
    rowTable.textContent = "";
    header(rowTable, ["query", "largest weight", "entropy (nats)"]);
    queries.forEach(function (q, r) {
      var tr = element("tr", {}, rowTable);
      element("td", {text: q}, tr);
      element("td", {text: show(out.max_w[r], 3)}, tr);
      element("td", {text: show(out.entropy[r], 3)}, tr);
    });
    sweepTable.textContent = "";
    element("caption", {text: "As dₖ grows: means over 64 random queries "
      + "of the same seed (the first 4 are the map's). Uniform weights "
      + "would have largest 0.125 and entropy ln 8 = 2.079."},
      sweepTable);
    header(sweepTable, ["dₖ", "largest weight, unscaled",
                        "largest weight, scaled", "entropy, unscaled",
                        "entropy, scaled"]);
    out.sweep_d.forEach(function (d, r) {
      var tr = element("tr", {}, sweepTable);
      if (d === d_k) { tr.style.background = "#e9eef7"; }
      element("td", {text: String(d)}, tr);
      [out.sweep_max_raw, out.sweep_max_scaled, out.sweep_entropy_raw,
       out.sweep_entropy_scaled].forEach(function (col) {
        element("td", {text: show(col[r], 3)}, tr);
      });
    });
    pg.output(["a", "max_w", "entropy", "sweep_max_raw", "sweep_max_scaled",
               "sweep_entropy_raw", "sweep_entropy_scaled"], out);
  });
});
