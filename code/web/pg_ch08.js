// Chapter 8: "ch08-rope", the relative property of rotary position
// embeddings, Eq. (8.2): a query and a key rotated to positions i + s and
// j + s score the same for every shift s (code/web/pg_ch08.hpp computes
// with the library's rope_interleaved).
bookPlayground.define("ch08-rope", function (pg) {
  var show = bookPlayground.show, element = bookPlayground.element;
  var svgNS = "http://www.w3.org/2000/svg";

  var controls = element("div", {"class": "pg-controls"}, pg.body);
  var i = pg.slider({key: "i", label: "query position i", min: 0, max: 7,
                     step: 1, value: 3,
                     format: function (v) { return String(v); }}, controls);
  var j = pg.slider({key: "j", label: "key position j", min: 0, max: 7,
                     step: 1, value: 1,
                     format: function (v) { return String(v); }}, controls);
  var shift = pg.slider({key: "shift", label: "shift both by s", min: 0,
                         max: 200, step: 1, value: 0,
                         format: function (v) { return String(v); }},
                        controls);
  var width = pg.select({key: "d", label: "width dₖ",
                         options: [["4", "4"], ["8", "8"]], value: 4},
                        controls);
  var seed = pg.slider({key: "seed", label: "seed of q and k", min: 1,
                        max: 20, step: 1, value: 1,
                        format: function (v) { return String(v); }},
                       controls);

  var answer = element("p", {"class": "pg-result", "aria-live": "polite"},
                       pg.body);
  var dials = element("div", {style: "display: flex; flex-wrap: wrap; "
                              + "gap: 0.6em; margin: 0.3em 0"}, pg.body);
  var map = element("div", {}, pg.body);
  var note = element("p", {}, pg.body);

  function svg(tag, attrs, parent) {
    var e = document.createElementNS(svgNS, tag);
    Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    parent.appendChild(e);
    return e;
  }

  // Pair f of q~ (blue) and of k~ (gold) as two hands of one dial.
  function dial(f, out, scale) {
    var box = element("figure", {style: "margin: 0; text-align: center"},
                      dials);
    var r = 34, c = r + 4;
    var pic = svg("svg", {width: 2 * c, height: 2 * c, role: "img",
                          "aria-label": "pair " + f + ": q̃ ("
                            + show(out.q_rot[2 * f], 2) + ", "
                            + show(out.q_rot[2 * f + 1], 2) + "), k̃ ("
                            + show(out.k_rot[2 * f], 2) + ", "
                            + show(out.k_rot[2 * f + 1], 2) + ")"}, box);
    svg("circle", {cx: c, cy: c, r: r, fill: "#ffffff",
                   stroke: "#cfd6e3"}, pic);
    [["q_rot", "#17325c"], ["k_rot", "#c9a227"]].forEach(function (h) {
      var x = out[h[0]][2 * f] / scale, y = out[h[0]][2 * f + 1] / scale;
      svg("line", {x1: c, y1: c, x2: c + r * x, y2: c - r * y,
                   stroke: h[1], "stroke-width": 3,
                   "stroke-linecap": "round"}, pic);
    });
    element("figcaption", {text: "pair " + f + " (columns " + 2 * f + ", "
                           + (2 * f + 1) + ")",
                           style: "font-size: 0.85em"}, box);
  }

  pg.update(function () {
    var out = pg.compute({d: Number(width.value), seed: seed.number(),
                          i: i.number(), j: j.number(),
                          shift: shift.number()});
    if (!out) { return; }
    var s = shift.number(), d = Number(width.value);
    answer.textContent = "q̃ at position i + s = " + (i.number() + s)
      + ", k̃ at j + s = " + (j.number() + s) + " (i − j = "
      + show(i.number() - j.number(), 0) + "): score q̃ k̃ᵀ = "
      + show(out.score[0], 6) + "; with s = 0 it is "
      + show(out.score_unshifted[0], 6) + ".";

    dials.textContent = "";
    var scale = 1e-12;
    for (var c = 0; c < d / 2; ++c) {
      scale = Math.max(scale, Math.hypot(out.q[2 * c], out.q[2 * c + 1]),
                       Math.hypot(out.k[2 * c], out.k[2 * c + 1]));
    }
    for (var f = 0; f < d / 2; ++f) { dial(f, out, scale); }

    var labels = [];
    for (var p = 0; p < 8; ++p) { labels.push(String(p + s)); }
    pg.heatmap(map, out.S, 8, 8, {
      caption: "q̃ k̃ᵀ for q at positions " + s + " to " + (s + 7)
        + " (rows) and k at the same positions (columns)",
      rowLabels: labels, colLabels: labels, digits: 6
    });
    var cell = map.querySelectorAll("tr")[1 + i.number()]
      .querySelectorAll("td")[j.number()];
    cell.style.outline = "3px solid #c9a227";
    cell.style.outlineOffset = "-3px";
    note.textContent = "Blue hand: pair f of q̃; gold hand: pair f of k̃. "
      + "The outlined cell is the score above. Each diagonal of the map "
      + "(one value of i − j) holds one number.";
    pg.output(["score", "score_unshifted", "S"], out);
  });
});
