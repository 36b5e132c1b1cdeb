// Chapter 3: "ch03-heads" (each head's weights, the concatenation Y_cat and
// the output for H heads of a random layer) and "ch03-gates" (the head
// gates of Eq. 3.7 on the same layer); code/web/pg_ch03.hpp computes.
(function () {
  var show = bookPlayground.show, element = bookPlayground.element;
  var sub = "₀₁₂₃₄₅₆₇", sup = "⁰¹²³⁴⁵⁶⁷";
  var n = 4, dModel = 8;
  var queries = [0, 1, 2, 3].map(function (i) { return "q" + sub[i]; });
  var keys = [0, 1, 2, 3].map(function (j) { return "k" + sub[j]; });
  var headOptions = [1, 2, 4, 8].map(function (h) {
    return [h, String(h) + " (dₖ = " + (dModel / h) + ")"];
  });

  // Column c of Y_cat belongs to head floor(c / d_k): "Y⁰" over its columns.
  function owners(heads) {
    var labels = [];
    for (var c = 0; c < dModel; ++c) {
      labels.push("Y" + sup[Math.floor(c / (dModel / heads))]);
    }
    return labels;
  }
  function columns() {
    var labels = [];
    for (var c = 0; c < dModel; ++c) { labels.push(String(c)); }
    return labels;
  }
  function twoDigits(v) { return show(v, 2); }

  bookPlayground.define("ch03-heads", function (pg) {
    var controls = element("div", {"class": "pg-controls"}, pg.body);
    var seed = pg.slider({key: "seed", label: "seed of the layer", min: 0,
                          max: 20, step: 1, value: 1,
                          format: function (v) { return String(v); }},
                         controls);
    var heads = pg.select({key: "heads", label: "heads H",
                           options: headOptions, value: 2}, controls);
    var maps = element("div", {"class": "pg-controls"}, pg.body);
    var catMaps = element("div", {"class": "pg-controls"}, pg.body);
    var yCat = element("div", {}, catMaps);
    var yOut = element("div", {}, catMaps);
    var answer = element("p", {"class": "pg-result", "aria-live": "polite"},
                         pg.body);

    pg.update(function () {
      var h = Number(heads.value);
      var xi = [];
      for (var g = 0; g < h; ++g) { xi.push(1); }
      var out = pg.compute({seed: seed.number(), heads: h, xi: xi});
      if (!out) { return; }
      maps.textContent = "";
      for (var k = 0; k < h; ++k) {
        pg.heatmap(element("div", {}, maps),
                   out.a.slice(k * n * n, (k + 1) * n * n), n, n,
                   {caption: "A" + sup[k] + " (head " + k + ")",
                    rowLabels: queries, colLabels: keys, lo: 0, hi: 1,
                    cellText: twoDigits});
      }
      pg.heatmap(yCat, out.heads, n, dModel,
                 {caption: "Y_cat = [Y⁰, …], Eq. (3.3)", rowLabels: queries,
                  colLabels: owners(h), cellText: twoDigits});
      pg.heatmap(yOut, out.y, n, dModel,
                 {caption: "Ỹ = Y_cat Wₒ + bₒ, Eq. (3.4)",
                  rowLabels: queries, colLabels: columns(),
                  cellText: twoDigits});
      answer.textContent = h + (h === 1 ? " head" : " heads") + " of dₖ = "
        + (dModel / h) + " columns: each Aʰ is "
        + n + " × " + n + " with rows summing to 1, and head h fills "
        + "columns [h dₖ, (h+1) dₖ) of Y_cat (labelled Yʰ above).";
      pg.output(["a", "heads", "y"], out);
    });
  });

  bookPlayground.define("ch03-gates", function (pg) {
    var controls = element("div", {"class": "pg-controls"}, pg.body);
    var heads = pg.select({key: "heads", label: "heads H",
                           options: headOptions, value: 4}, controls);
    var gates = element("div", {"class": "pg-controls"}, pg.body);
    var sliders = [];
    for (var g = 0; g < 8; ++g) {
      sliders.push(pg.slider({key: "xi" + g, label: "gate ξ" + sub[g],
                              min: 0, max: 1, step: 0.25, value: 1},
                             gates));
    }
    var catMaps = element("div", {"class": "pg-controls"}, pg.body);
    var yCat = element("div", {}, catMaps);
    var yOut = element("div", {}, catMaps);
    var change = element("div", {}, pg.body);
    var answer = element("p", {"class": "pg-result", "aria-live": "polite"},
                         pg.body);

    pg.update(function () {
      var h = Number(heads.value);
      var xi = [];
      sliders.forEach(function (s, k) {
        s.parentNode.style.display = k < h ? "" : "none";
        if (k < h) { xi.push(s.number()); }
      });
      var out = pg.compute({seed: 1, heads: h, xi: xi});
      if (!out) { return; }
      pg.heatmap(yCat, out.heads, n, dModel,
                 {caption: "Y_cat = [ξ₀Y⁰, …], gated", rowLabels: queries,
                  colLabels: owners(h), cellText: twoDigits});
      pg.heatmap(yOut, out.y, n, dModel,
                 {caption: "Ỹ with these gates, Eq. (3.7)",
                  rowLabels: queries, colLabels: columns(),
                  cellText: twoDigits});
      var largest = Math.max.apply(null, out.change.map(Math.abs));
      pg.heatmap(change, out.change, n, dModel,
                 {caption: "Ỹ − (Ỹ with every gate 1)", rowLabels: queries,
                  colLabels: columns(), cellText: twoDigits});
      var off = [], part = [];
      xi.forEach(function (v, k) {
        if (v === 0) { off.push(k); } else if (v < 1) { part.push(k); }
      });
      answer.textContent = (off.length === 0 && part.length === 0
        ? "Every gate is 1: this is the layer of the playground above, "
          + "seed 1, and the change is zero."
        : (off.length > 0 ? "Head" + (off.length > 1 ? "s " : " ")
           + off.join(", ") + " gated off: " + (off.length > 1 ? "their"
           : "its") + " columns of Y_cat are zero. " : "")
          + "Ỹ moves by up to " + show(largest, 3) + " in a cell: it "
          + "loses (1 − ξₕ) Yʰ Wₒʰ for each head h, Eq. (3.7).");
      pg.output(["heads", "y", "change"], out);
    });
  });
})();
