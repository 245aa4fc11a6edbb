// Distillation run page: training-loss curves and held-out figures (plotly). Data from json_script.
(function () {
  "use strict";
  function draw() {
    var source = document.getElementById("distillation-chart-data");
    if (!source || !window.Plotly) { return; }
    var data = JSON.parse(source.textContent);
    var config = { displayModeBar: false, responsive: true };
    var names = Object.keys(data.losses);
    if (names.length && document.getElementById("chart-loss")) {
      var traces = names.map(function (name) {
        return { type: "scatter", mode: "lines+markers", name: name,
          x: data.losses[name].map(function (p) { return p.step; }), y: data.losses[name].map(function (p) { return p.loss; }) };
      });
      window.Plotly.newPlot("chart-loss", traces, { title: { text: "Training loss" }, xaxis: { title: { text: "step" } }, yaxis: { title: { text: "loss" } } }, config);
    }
    var models = Object.keys(data.evaluation);
    if (models.length && document.getElementById("chart-eval")) {
      // One bar series per figure (the selector names them and scales them to 0-1).
      var traces = (data.series || []).map(function (series) {
        return { type: "bar", name: series, x: models, y: models.map(function (m) { return data.evaluation[m][series]; }) };
      });
      window.Plotly.newPlot("chart-eval", traces, { title: { text: "Held-out figures" }, barmode: "group" }, config);
    }
  }
  document.addEventListener("DOMContentLoaded", draw);
})();
