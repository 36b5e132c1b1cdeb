// Chapter 6: "ch06-online-softmax", one query against n keys folded in
// block by block with the library's online-softmax step (Eqs. 6.2 and
// 6.3), and after the last block o / ℓ beside ordinary softmax attention
// (code/web/pg_ch06.hpp computes).
bookPlayground.define("ch06-online-softmax", function (pg) {
  var show = bookPlayground.show, element = bookPlayground.element;
  function whole(v) { return String(v); }
  function digits(i, set) {
    return String(i).replace(/[0-9]/g, function (c) {
      return set[Number(c)];
    });
  }
  function sub(i) { return digits(i, "₀₁₂₃₄₅₆₇₈₉"); }
  function sup(i) { return "⁽" + digits(i, "⁰¹²³⁴⁵⁶⁷⁸⁹") + "⁾"; }

  var controls = element("div", {"class": "pg-controls"}, pg.body);
  var seed = pg.slider({key: "seed", label: "seed", min: 0, max: 99,
                        step: 1, value: 1, format: whole}, controls);
  var keys = pg.slider({key: "n", label: "keys n", min: 1, max: 16,
                        step: 1, value: 10, format: whole}, controls);
  var block = pg.slider({key: "block", label: "keys per block", min: 1,
                         max: 16, step: 1, value: 3, format: whole},
                        controls);
  var logScale = pg.slider({
    key: "log10_scale", label: "spread of the query", min: -1, max: 2,
    step: 0.25, value: 0,
    format: function (v) { return show(Math.pow(10, v), 2); }
  }, controls);
  var step = pg.slider({key: "step", label: "blocks folded in, t",
                        min: 0, max: 4, step: 1, value: 1, format: whole},
                       controls);
  var stepShown = step.parentNode.querySelector("output");

  var table = element("table", {"class": "pg-table"}, pg.body);
  var answer = element("p", {"class": "pg-result", "aria-live": "polite"},
                       pg.body);

  function header() {
    var tr = element("tr", {}, table);
    ["key j", "score sⱼ", "value vⱼ", "block", "m⁽ᵗ⁾", "ρ⁽ᵗ⁾", "ℓ⁽ᵗ⁾",
     "o⁽ᵗ⁾", "o⁽ᵗ⁾/ℓ⁽ᵗ⁾"].forEach(function (t) {
      element("th", {scope: "col", text: t}, tr);
    });
  }

  pg.update(function () {
    var n = keys.number(), b = block.number();
    // The step slider runs over the blocks there are: 0 .. ⌈n / b⌉.
    var blocks = Math.ceil(n / b);
    step.max = String(blocks);
    if (step.number() > blocks) { step.value = String(blocks); }
    stepShown.textContent = whole(step.number());
    var t = step.number();

    var out = pg.compute({seed: seed.number(), n: n, block: b, step: t,
                          scale: Math.pow(10, logScale.number())});
    if (!out) { return; }
    table.textContent = "";
    header();
    var m = t > 0 ? out.m[t - 1] : -Infinity;
    for (var j = 0; j < n; ++j) {
      var k = Math.floor(j / b);  // this key's block, from 0
      var tr = element("tr", {}, table);
      if (k >= t) { tr.style.color = "#999999"; }
      if (k === t - 1) { tr.style.background = "#eef3fb"; }
      element("td", {text: String(j)}, tr);
      var s = element("td", {text: show(out.s[j], 3)}, tr);
      if (k < t && out.s[j] === m) { s.style.fontWeight = "700"; }
      element("td", {text: show(out.v[j], 3)}, tr);
      if (j % b === 0) {
        var span = String(Math.min(b, n - j));
        element("td", {rowspan: span, text: "B" + sub(k + 1)}, tr);
        [out.m, out.rho, out.l, out.o, out.y].forEach(function (list) {
          element("td", {rowspan: span,
                         text: k < t ? show(list[k], 3) : "·"}, tr);
        });
      }
    }
    if (t === 0) {
      answer.textContent = "No block folded in yet: m⁽⁰⁾ = −∞, ℓ⁽⁰⁾ = 0, "
        + "o⁽⁰⁾ = 0. Move t to fold in the first block.";
    } else if (t < blocks) {
      answer.textContent = "After block " + t + " of " + blocks
        + ": m" + sup(t) + " = " + show(m, 3) + " is the largest score "
        + "seen so far (in bold); ρ" + sup(t) + " = "
        + show(out.rho[t - 1], 3) + " rescaled what was summed before "
        + "(0 on the first block, 1 when a block does not raise the "
        + "maximum). o" + sup(t) + "/ℓ" + sup(t) + " = "
        + show(out.y_t[0], 4)
        + " is softmax attention over the keys seen so far.";
    } else {
      answer.textContent = (blocks === 1 ? "The one block folded in: "
        : "All " + blocks + " blocks folded in: ")
        + "y = o" + sup(t) + "/ℓ" + sup(t) + " = " + show(out.y_t[0], 12)
        + " (Eq. 6.4); "
        + "ordinary softmax attention Σⱼ aⱼ vⱼ, all keys at once, gives "
        + show(out.y_direct[0], 12) + ". "
        + (out.y_t[0] === out.y_direct[0] ? "They are equal to the last bit."
           : "They differ by " + show(Math.abs(out.y_t[0] - out.y_direct[0]),
                                      2) + ", a rounding error.");
    }
    pg.output(["m", "rho", "l", "o", "y", "y_t", "y_direct"], out);
  });
});
