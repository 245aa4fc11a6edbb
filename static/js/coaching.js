// Coaching pages: the report's charts and the trends charts (plotly, served by the project).
// No inline scripts: the content security policy allows scripts from 'self' only.
(function () {
  "use strict";
  var config = { responsive: true, displaylogo: false, displayModeBar: false };
  var ROLE_COLORS = { teacher: "#1d6f5f", student: "#c98a12" };

  function layout(extra) {
    var base = { height: 260, margin: { t: 10, r: 10, b: 45, l: 55 }, paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)", font: { size: 12 } };
    Object.keys(extra || {}).forEach(function (key) { base[key] = extra[key]; });
    return base;
  }

  function empty(id, text) {
    var node = document.getElementById(id);
    if (!node) { return; }
    var p = document.createElement("p");
    p.className = "empty chart-empty";
    p.textContent = text;
    node.replaceChildren(p);
  }

  function jumpTo(line) {
    var target = document.getElementById("line-" + line);
    if (target) { target.scrollIntoView({ behavior: "smooth", block: "center" }); target.classList.add("flash"); setTimeout(function () { target.classList.remove("flash"); }, 1600); }
  }

  function reportCharts(data) {
    var speakers = [];
    data.timeline.forEach(function (row) { if (speakers.indexOf(row.speaker) < 0) { speakers.push(row.speaker); } });
    var scale = data.timed ? 60 : 1;
    var traces = speakers.map(function (speaker) {
      var rows = data.timeline.filter(function (row) { return row.speaker === speaker; });
      return {
        type: "bar", orientation: "h", name: speaker, y: rows.map(function () { return speaker; }),
        x: rows.map(function (row) { return row.width / scale; }), base: rows.map(function (row) { return row.x / scale; }),
        customdata: rows.map(function (row) { return row.line; }),
        marker: { color: ROLE_COLORS[rows[0].role] || "#667" },
        hovertemplate: "Line %{customdata}<extra>" + speaker + "</extra>"
      };
    });
    window.Plotly.newPlot("chart-timeline", traces, layout({ showlegend: false, barmode: "overlay", xaxis: { title: { text: data.timed ? "Minutes" : "Turn" } }, height: Math.max(180, 40 * speakers.length + 80), margin: { t: 10, r: 10, b: 45, l: 110 } }), config);
    document.getElementById("chart-timeline").on("plotly_click", function (event) { jumpTo(event.points[0].customdata); });

    window.Plotly.newPlot("chart-segments", [{ type: "bar", x: data.segments.map(function (s) { return s.label; }), y: data.segments.map(function (s) { return s.student_share * 100; }), marker: { color: ROLE_COLORS.student }, hovertemplate: "%{y:.0f}%<extra></extra>" }],
      layout({ yaxis: { title: { text: "% of words" }, range: [0, 100] } }), config);

    window.Plotly.newPlot("chart-moves", [{ type: "bar", orientation: "h", y: data.moves.map(function (m) { return m.move; }), x: data.moves.map(function (m) { return m.count; }), marker: { color: ROLE_COLORS.teacher } }],
      layout({ margin: { t: 10, r: 10, b: 45, l: 260 }, xaxis: { title: { text: "Turns" } } }), config);

    if (data.uptake.length) {
      window.Plotly.newPlot("chart-uptake", [{ type: "scatter", mode: "lines+markers", x: data.uptake.map(function (u) { return u.line; }), y: data.uptake.map(function (u) { return u.uptake; }), customdata: data.uptake.map(function (u) { return u.line; }), line: { shape: "hv", color: ROLE_COLORS.teacher }, hovertemplate: "Line %{x}: uptake %{y}<extra></extra>" }],
        layout({ xaxis: { title: { text: "Line" } }, yaxis: { title: { text: "Uptake" }, range: [-0.2, 2.2], dtick: 1 } }), config);
      document.getElementById("chart-uptake").on("plotly_click", function (event) { jumpTo(event.points[0].customdata); });
    } else {
      empty("chart-uptake", "No teacher turn answers a student.");
    }
  }

  function trendCharts(rows) {
    var x = rows.map(function (r) { return r.lesson_date + " · " + r.title; });
    function line(id, key, factor, title) {
      window.Plotly.newPlot(id, [{ type: "scatter", mode: "lines+markers", x: x, y: rows.map(function (r) { return r[key] === null ? null : r[key] * factor; }), line: { color: ROLE_COLORS.teacher } }],
        layout({ yaxis: { title: { text: title }, rangemode: "tozero" }, xaxis: { type: "category", tickangle: -20 } }), config);
    }
    line("chart-trend-share", "student_talk_share", 100, "% of words");
    line("chart-trend-uptake", "mean_uptake", 1, "Uptake");
    line("chart-trend-open", "open_question_share", 100, "% of questions");
    line("chart-trend-press", "pressing_reasoning_rate", 1, "Per 100 turns");
  }

  function draw() {
    var report = document.getElementById("coaching-chart-data");
    var trends = document.getElementById("coaching-trends-data");
    if (!window.Plotly) {
      document.querySelectorAll(".chart").forEach(function (node) { empty(node.id, "Charts could not be loaded."); });
      return;
    }
    if (report) { reportCharts(JSON.parse(report.textContent)); }
    if (trends) { trendCharts(JSON.parse(trends.textContent)); }
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest ? event.target.closest("a.line-link") : null;
    if (!link) { return; }
    var line = link.getAttribute("href").replace("#line-", "");
    event.preventDefault();
    history.replaceState(null, "", "#line-" + line);
    jumpTo(line);
  });

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", draw); } else { draw(); }
})();
