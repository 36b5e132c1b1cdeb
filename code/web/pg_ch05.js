// Chapter 5: "ch05-pruning", the model chapter 5 trained with a gate on
// each head: its weights on one sequence, its answers there, and its
// accuracy and loss on the chapter's test set (code/web/pg_ch05.hpp
// computes; the weights are the pg_ch05_*.npy that ch05_heads wrote).
bookPlayground.define("ch05-pruning", function (pg) {
  var show = bookPlayground.show, element = bookPlayground.element;
  var data = window.BookPlaygroundData || {};
  var names = ["W_q", "W_k", "W_v", "W_o", "b_o", "W_u", "b_u", "tokens",
               "test_set"];
  var missing = names.filter(function (k) { return !data["ch05_" + k]; });
  if (missing.length > 0) {
    element("p", {"class": "pg-missing", text: "This playground needs the "
      + "weights that ch05_heads writes with --out (pg_ch05_*.npy), and "
      + "this copy of the book was built without "
      + missing.join(", ") + "."}, pg.body);
    return;
  }
  var weights = {};
  names.slice(0, 7).forEach(function (k) {
    weights[k] = data["ch05_" + k].data;
  });
  var testSet = data["ch05_test_set"].data;  // seed, number of sequences
  var H = 4, n = 10, sub = "₀₁₂₃";

  var controls = element("div", {"class": "pg-controls"}, pg.body);
  var gates = [];
  for (var h = 0; h < H; ++h) {
    gates.push(pg.slider({key: "gate" + h, label: "gate ξ" + sub[h]
                          + " of head " + h, min: 0, max: 1, step: 0.05,
                          value: 1}, controls));
  }
  var tokens = pg.textField({key: "tokens", label: "tokens t₁ … t₉ (0–4)",
                             value: data["ch05_tokens"].data.join(" "),
                             size: 20}, pg.body);

  var answer = element("p", {"class": "pg-result", "aria-live": "polite"},
                       pg.body);
  var table = element("table", {"class": "pg-table"}, pg.body);
  var maps = element("div", {style: "display: flex; flex-wrap: wrap"},
                     pg.body);
  var boxes = [];
  for (var b = 0; b < H; ++b) { boxes.push(element("div", {}, maps)); }

  function row(label, cells, bad) {
    var tr = element("tr", {}, table);
    element("th", {scope: "row", text: label}, tr);
    cells.forEach(function (c, k) {
      var td = element("td", {text: c}, tr);
      if (bad && bad[k]) { td.className = "pg-bad"; }
    });
  }

  pg.update(function () {
    var t = tokens.value.trim().split(/\s+/).map(Number);
    var xi = gates.map(function (g) { return g.number(); });
    var inputs = {};
    Object.keys(weights).forEach(function (k) { inputs[k] = weights[k]; });
    inputs.tokens = t;
    inputs.gates = xi;
    inputs.test_seed = testSet[0];
    inputs.test_count = testSet[1];
    var out = pg.compute(inputs);
    if (!out) { return; }

    var seq = [n];  // BOS, then the tokens
    t.forEach(function (x) { seq.push(x); });
    function name(j) { return j + ":" + (j === 0 ? "BOS" : seq[j]); }
    var scored = [];  // positions 2 .. n - 1 have a class to name
    for (var i = 2; i < n; ++i) { scored.push(i); }
    var right = scored.filter(function (i) {
      return out.predicted[i] === out.target[i];
    }).length;
    answer.textContent = "Test set (" + testSet[1] + " sequences): "
      + "accuracy " + show(out.test_accuracy[0], 3) + ", loss "
      + show(out.test_loss[0], 3) + ". This sequence: " + right + " of "
      + scored.length + " classes right, loss " + show(out.loss[0], 3)
      + ".";

    table.textContent = "";
    row("position i", scored.map(String));
    row("token tᵢ", scored.map(function (i) { return String(seq[i]); }));
    row("class cᵢ = 2tᵢ₋₁ + seen", scored.map(function (i) {
      return String(out.target[i]);
    }));
    row("model names", scored.map(function (i) {
      return String(out.predicted[i]);
    }), scored.map(function (i) {
      return out.predicted[i] !== out.target[i];
    }));
    row("p(cᵢ)", scored.map(function (i) {
      return show(out.p_target[i], 3);
    }));

    // Each head's weights A^h for the scored queries 2 .. n - 1 over the
    // keys 0 .. n - 2 (the strict causal mask leaves the rest at 0).
    var rowLabels = scored.map(name), colLabels = [];
    for (var j = 0; j < n - 1; ++j) { colLabels.push(name(j)); }
    boxes.forEach(function (box, h) {
      var values = [];
      scored.forEach(function (i) {
        for (var j = 0; j < n - 1; ++j) {
          values.push(out.a[(h * n + i) * n + j]);
        }
      });
      pg.heatmap(box, values, scored.length, n - 1, {
        caption: "head " + h + ", ξ" + sub[h] + " = " + show(xi[h], 2),
        rowLabels: rowLabels, colLabels: colLabels, lo: 0, hi: 1,
        cellText: function (v) {
          return v < 0.005 ? "" : v.toFixed(2).replace(/^0/, "");
        }
      });
      box.querySelectorAll("td").forEach(function (td) {
        td.style.cssText += "min-width: 2.1em; height: 1.6em; "
          + "font-size: 0.7em; padding: 0;";
      });
      box.querySelectorAll("th").forEach(function (th) {
        th.style.fontSize = "0.7em";
      });
      box.style.opacity = String(0.3 + 0.7 * xi[h]);
    });
    pg.output(["test_accuracy", "test_loss", "accuracy", "loss",
               "p_target", "predicted"], out);
  });
});
