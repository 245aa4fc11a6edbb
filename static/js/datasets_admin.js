// Data sets course page: categories across lectures and the most confusing lectures (plotly).
// No inline scripts: the data comes from {{ chart_data|json_script:"course-chart-data" }}.
(function () {
  "use strict";
  function empty(id, text) {
    var node = document.getElementById(id);
    if (!node) { return; }
    var p = document.createElement("p");
    p.className = "empty";
    p.textContent = text;
    node.replaceChildren(p);
  }
  function draw() {
    var source = document.getElementById("course-chart-data");
    if (!source) { return; }
    var data = JSON.parse(source.textContent);
    if (!window.Plotly) {
      empty("chart-categories", "Charts could not be loaded.");
      empty("chart-confusing", "Charts could not be loaded.");
      return;
    }
    var config = { responsive: true, displaylogo: false, displayModeBar: false };
    var layout = { barmode: "stack", height: 360, margin: { t: 10, r: 10, b: 120, l: 50 },
      paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)", legend: { orientation: "h", y: -0.4 } };
    var traces = data.categories.map(function (category) {
      return { type: "bar", name: category.label + (category.is_trusted ? "" : " (low agreement)"),
        x: data.lectures, y: category.counts, opacity: category.is_trusted ? 1 : 0.35 };
    });
    if (document.getElementById("chart-categories")) {
      window.Plotly.newPlot("chart-categories", traces, layout, config);
    }
    if (document.getElementById("chart-confusing") && data.confusing.lectures.length) {
      window.Plotly.newPlot("chart-confusing", [{ type: "bar", orientation: "h", x: data.confusing.confused.slice().reverse(),
        y: data.confusing.lectures.slice().reverse(), marker: { color: "#c98a12" }, name: "confused comments" }],
        { height: 60 + 28 * data.confusing.lectures.length, margin: { t: 10, r: 10, b: 30, l: 260 },
          paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)" }, config);
    }
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", draw); } else { draw(); }
})();
