// Chapter 4: "ch04-masks", masked attention (Eq. 4.5) of n_q queries over
// six keys with a mask from a preset (the library's causal, padding and
// combined masks) or toggled cell by cell; code/web/pg_ch04.hpp computes.
bookPlayground.define("ch04-masks", function (pg) {
  var show = bookPlayground.show, element = bookPlayground.element;
  var sub = "₀₁₂₃₄₅";
  var nK = 6;
  var presets = [
    ["causal", "causal (decoder self-attention), Eq. 4.2"],
    ["padding", "padding (encoder self-attention), Eq. 4.3"],
    ["causal_padding", "causal and padding, Eq. 4.4"],
    ["cross", "cross-attention: decoder queries, source padding"],
    ["hand", "edited by hand"]];

  var controls = element("div", {"class": "pg-controls"}, pg.body);
  var preset = pg.select({key: "preset", label: "mask", options: presets,
                          value: "causal"}, controls);
  var nQ = pg.slider({key: "n_q", label: "queries n_q", min: 1, max: 6,
                      step: 1, value: 6,
                      format: function (v) { return String(v); }}, controls);
  var pad = pg.slider({key: "pad", label: "padding keys (padding presets)",
                       min: 0, max: 6, step: 1, value: 2,
                       format: function (v) { return String(v); }},
                      controls);
  var maps = element("div", {"class": "pg-controls"}, pg.body);
  var gridBox = element("div", {}, maps);
  var weights = element("div", {}, maps);
  var outputs = element("div", {}, maps);
  var answer = element("p", {"class": "pg-result", "aria-live": "polite"},
                       pg.body);

  var grid = null, gridRows = 0, applied = "", appliedValues = "";
  var cross = 0;

  function labels(prefix, count) {
    var l = [];
    for (var i = 0; i < count; ++i) { l.push(prefix + sub[i]); }
    return l;
  }

  // (Re)builds the grid of toggles with the given cells (0/1 row by row).
  function build(rows, values) {
    gridBox.textContent = "";
    grid = pg.toggleGrid({key: "mask", label: "M (✓ = may attend)",
                          rows: rows, cols: nK, value: values,
                          rowLabels: labels("q", rows),
                          colLabels: labels("k", nK)}, gridBox);
    gridRows = rows;
  }

  function run() {
    return pg.compute({n_q: nQ.number(), cross: cross, pad: pad.number(),
                       mask: grid.values()});
  }

  pg.update(function () {
    var rows = nQ.number();
    if (grid === null || gridRows !== rows) {
      // Keep the cells that still exist; a new row may attend everywhere.
      var old = grid === null ? [] : grid.values();
      var cells = [];
      for (var c = 0; c < rows * nK; ++c) {
        cells.push(c < old.length ? old[c] : 1);
      }
      build(rows, cells);
    }
    var choice = preset.value;
    var key = [choice, rows, pad.number()].join(" ");
    if (choice !== "hand" && key !== applied) {
      // A preset: the library's mask for these sizes, then the weights.
      cross = choice === "cross" ? 1 : 0;
      var masks = run();
      if (!masks) { return; }
      build(rows, masks[choice === "cross" ? "padding" : choice]);
      applied = key;
      appliedValues = grid.values().join(" ");
    } else if (grid.values().join(" ") !== appliedValues) {
      preset.value = "hand";
      applied = "";
    }
    var out = run();
    if (!out) { return; }
    var m = grid.values();
    pg.heatmap(weights, out.a, rows, nK,
               {caption: "weights A, Eq. (4.5); grey: masked",
                rowLabels: labels("q", rows), colLabels: labels("k", nK),
                lo: 0, hi: 1,
                cellText: function (v) { return show(v, 2); }});
    // A masked key's cell in grey, its weight written as the exact 0.
    weights.querySelectorAll("td").forEach(function (td, c) {
      if (m[c] === 0) {
        td.style.background = "#e4e4e4";
        td.style.color = "#666666";
        td.textContent = out.a[c] === 0 ? "0" : show(out.a[c], 2);
      }
    });
    pg.heatmap(outputs, out.y, rows, 4,
               {caption: "outputs Y = A V", rowLabels: labels("y", rows),
                colLabels: ["0", "1", "2", "3"],
                cellText: function (v) { return show(v, 2); }});
    var empty = [];
    for (var i = 0; i < rows; ++i) {
      if (m.slice(i * nK, (i + 1) * nK).every(function (b) {
        return b === 0; }) && out.row_sum[i] === 0) {
        empty.push("q" + sub[i]);
      }
    }
    answer.textContent = (cross
      ? "Cross-attention: the queries are " + rows + " decoder tokens; "
        + "the keys and values are the 6 tokens of the source. "
      : "Self-attention: the queries are the last " + rows + " of the 6 "
        + "tokens. ")
      + (empty.length === 0
        ? "Every query may attend to some key: its weights sum to 1 over "
          + "the allowed keys and are exactly 0 on the masked ones."
        : "Fully masked: " + empty.join(", ") + ". "
          + (empty.length > 1 ? "These rows have" : "This row has")
          + " all-zero weights and a zero output, by the book's rule "
          + "(not NaN, not uniform).");
    pg.output(["a", "y"], out);
  });
});
