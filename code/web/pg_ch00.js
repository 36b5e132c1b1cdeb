// Chapter 0: "ch00-lookup", the soft look-up of Eq. (0.2) for one query
// against the chapter's four keys, with a sharpness beta on the scores and
// the naive softmax beside the stable one (code/web/pg_ch00.hpp computes).
bookPlayground.define("ch00-lookup", function (pg) {
  var show = bookPlayground.show, element = bookPlayground.element;
  var keys = ["(1, 0)", "(0, 1)", "(−1, 0)", "(0, −1)"];
  var values = [10, 20, 30, 40];

  var controls = element("div", {"class": "pg-controls"}, pg.body);
  var q1 = pg.slider({key: "q1", label: "query q₁", min: -4, max: 4,
                      step: 0.25, value: 2}, controls);
  var q2 = pg.slider({key: "q2", label: "query q₂", min: -4, max: 4,
                      step: 0.25, value: 0.5}, controls);
  var logBeta = pg.slider({
    key: "log10_beta", label: "sharpness β", min: -1, max: 3.5, step: 0.25,
    value: 0, format: function (v) { return show(Math.pow(10, v), 3); }
  }, controls);

  var table = element("table", {"class": "pg-table"}, pg.body);
  var head = element("tr", {}, table);
  ["key kⱼ", "value vⱼ", "score sⱼ = β q·kⱼ/√2", "weight aⱼ (Eq. 0.1)",
   "naive exp(sⱼ)/Σ exp"].forEach(function (t) {
    element("th", {scope: "col", text: t}, head);
  });
  var cells = keys.map(function (k, j) {
    var tr = element("tr", {}, table);
    element("td", {text: k}, tr);
    element("td", {text: String(values[j])}, tr);
    return [element("td", {}, tr), element("td", {}, tr),
            element("td", {}, tr)];
  });
  var answer = element("p", {"class": "pg-result", "aria-live": "polite"},
                       pg.body);

  pg.update(function () {
    var out = pg.compute({q: [q1.number(), q2.number()],
                          beta: Math.pow(10, logBeta.number())});
    if (!out) { return; }
    cells.forEach(function (c, j) {
      c[0].textContent = show(out.s[j], 3);
      c[1].textContent = show(out.a[j], 4);
      c[1].style.background = "linear-gradient(90deg, #c5d3ea "
        + (100 * out.a[j]) + "%, transparent 0)";
      c[2].textContent = show(out.a_naive[j], 4);
      c[2].className = Number.isNaN(out.a_naive[j]) ? "pg-bad" : "";
    });
    var overflow = out.a_naive.some(Number.isNaN);
    answer.textContent = "Output y = Σ aⱼ vⱼ = " + show(out.y[0], 4)
      + " (a hard look-up would give " + values[out.a.indexOf(
        Math.max.apply(null, out.a))] + "). "
      + (overflow ? "The naive softmax has overflowed: exp(sⱼ) is "
         + "infinite for a score above about 709, and ∞/∞ is NaN. The "
         + "stable form subtracts the largest score first."
       : "The naive softmax agrees with the stable one here.");
    pg.output(["a", "y"], out);
  });
});
