// Grading pages: the assignment's charts, confirmations, and the review queue's keyboard shortcuts.
// No inline scripts anywhere: the content security policy allows scripts from 'self' only.
(function () {
  "use strict";

  // --- Charts (assignment page): data from {{ chart_data|json_script:"chart-data" }} -------------------
  var LABEL_NAMES = { correct: "Correct", partially_correct: "Partially correct", incorrect: "Incorrect" };
  var LABEL_COLORS = { correct: "#2e7d32", partially_correct: "#c98a12", incorrect: "#b42318" };

  function baseLayout(extra) {
    var layout = {
      height: 280,
      margin: { t: 40, r: 10, b: 50, l: 60 },
      paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "rgba(0,0,0,0)",
      font: { size: 12 }
    };
    Object.keys(extra).forEach(function (key) { layout[key] = extra[key]; });
    return layout;
  }

  function showEmpty(id, text) {
    var node = document.getElementById(id);
    if (!node) { return; }
    var p = document.createElement("p");
    p.className = "empty chart-empty";
    p.textContent = text;
    node.replaceChildren(p);
  }

  function drawCharts() {
    var source = document.getElementById("chart-data");
    if (!source) { return; }
    var data = JSON.parse(source.textContent);
    if (!window.Plotly) {
      ["chart-labels", "chart-confusion", "chart-confidence"].forEach(function (id) { showEmpty(id, "Charts could not be loaded."); });
      return;
    }
    var config = { responsive: true, displaylogo: false, displayModeBar: false };
    var names = data.labels.map(function (label) { return LABEL_NAMES[label] || label; });

    if (data.questions.length) {
      var bars = data.labels.map(function (label) {
        return { type: "bar", name: LABEL_NAMES[label] || label, x: data.questions, y: data.per_question[label], marker: { color: LABEL_COLORS[label] } };
      });
      window.Plotly.newPlot("chart-labels", bars, baseLayout({ title: { text: "Labels per question" }, barmode: "stack", legend: { orientation: "h", y: -0.25 }, yaxis: { title: { text: "Answers" } } }), config);
    } else {
      showEmpty("chart-labels", "No grades yet.");
    }

    if (data.reviewed) {
      var heatmap = {
        type: "heatmap", x: names, y: names, z: data.confusion, showscale: false,
        colorscale: [[0, "#f3f8f6"], [1, "#1d6f5f"]], zmin: 0,
        texttemplate: "%{z}", hovertemplate: "Model: %{y}<br>Teacher: %{x}<br>%{z} answers<extra></extra>"
      };
      window.Plotly.newPlot("chart-confusion", [heatmap], baseLayout({
        title: { text: "Model against teacher" },
        margin: { t: 10, r: 10, b: 60, l: 120 },
        xaxis: { title: { text: "Teacher" } }, yaxis: { title: { text: "Model" }, autorange: "reversed" }
      }), config);
    } else {
      showEmpty("chart-confusion", "No reviewed answers yet.");
    }

    if (data.confidences.length) {
      var histogram = { type: "histogram", x: data.confidences, xbins: { start: 0, end: 1.0001, size: 0.1 }, marker: { color: "#1d6f5f" } };
      window.Plotly.newPlot("chart-confidence", [histogram], baseLayout({
        title: { text: "The model's confidence" },
        bargap: 0.05, xaxis: { title: { text: "Confidence" }, range: [0, 1] }, yaxis: { title: { text: "Answers" } }
      }), config);
    } else {
      showEmpty("chart-confidence", "No grades yet.");
    }
  }

  // Confirmations (<form data-confirm>) are handled for every page by static/js/app.js.

  // --- Review queue ----------------------------------------------------------------------------------
  var currentId = null;

  function cards() {
    return Array.prototype.slice.call(document.querySelectorAll("[data-grade-card]"));
  }

  function currentCard() {
    return currentId ? document.getElementById(currentId) : null;
  }

  function markCurrent(card) {
    cards().forEach(function (each) { each.classList.toggle("is-current", each === card); });
    currentId = card ? card.id : null;
  }

  function focusCard(card) {
    if (!card) { return; }
    markCurrent(card);
    card.focus({ preventScroll: true });
    card.scrollIntoView({ block: "nearest", behavior: "smooth" });
  }

  function move(step) {
    var list = cards();
    if (!list.length) { return; }
    var index = list.indexOf(currentCard());
    var next = index === -1 ? (step > 0 ? 0 : list.length - 1) : Math.min(Math.max(index + step, 0), list.length - 1);
    focusCard(list[next]);
  }

  function isTyping(target) {
    return Boolean(target) && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  }

  function helpDialog() {
    return document.getElementById("shortcut-help");
  }

  function toggleHelp() {
    var dialog = helpDialog();
    if (!dialog) { return; }
    if (dialog.open) { dialog.close(); } else { dialog.showModal(); }
  }

  function act(key) {
    var card = currentCard();
    if (!card && key !== "?") {
      if (key === "j" || key === "k") { move(key === "j" ? 1 : -1); return true; }
      return false;
    }
    switch (key) {
      case "j": move(1); return true;
      case "k": move(-1); return true;
      case "?": toggleHelp(); return true;
      case "a":
        var accept = card.querySelector("[data-action=accept]");
        if (accept) { accept.click(); }
        return true;
      case "o":
        var select = card.querySelector("select[data-action=override]");
        if (select) { select.focus(); }
        return true;
      case "e":
        var details = card.querySelector("details[data-action=feedback]");
        if (details) {
          details.open = true;
          var textarea = details.querySelector("textarea");
          if (textarea) { textarea.focus(); }
        }
        return true;
      default:
        return false;
    }
  }

  document.addEventListener("keydown", function (event) {
    if (!document.querySelector("[data-grade-card], #shortcut-help")) { return; }
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) { return; }
    var target = event.target;
    if (isTyping(target)) {
      // While typing, keys are text; Escape leaves the field, Enter on the label select overrides.
      if (event.key === "Escape") {
        var card = target.closest("[data-grade-card]");
        target.blur();
        if (card) { focusCard(card); }
      } else if (event.key === "Enter" && target.matches("select[data-action=override]")) {
        event.preventDefault();
        target.form.requestSubmit();
      }
      return;
    }
    var dialog = helpDialog();
    if (dialog && dialog.open && event.key !== "?") { return; }
    if (act(event.key)) { event.preventDefault(); }
  });

  document.addEventListener("focusin", function (event) {
    var card = event.target.closest && event.target.closest("[data-grade-card]");
    if (card && card.id !== currentId) { markCurrent(card); }
  });

  document.addEventListener("click", function (event) {
    var target = event.target;
    if (target.closest("[data-shortcut-help]")) { toggleHelp(); return; }
    if (target.closest("[data-close-dialog]")) {
      var dialog = target.closest("dialog");
      if (dialog) { dialog.close(); }
      return;
    }
    var card = target.closest("[data-grade-card]");
    if (card) { markCurrent(card); }
  });

  // The filters apply as soon as one changes (the form is htmx-boosted: only the list is swapped).
  document.addEventListener("change", function (event) {
    var form = event.target.closest && event.target.closest("#review-filters");
    if (form) { form.requestSubmit(); }
  });

  // A card answered by htmx replaces the old one: keep it current, and give it the focus back when the
  // swap took it away, so the next shortcut acts on it.
  document.addEventListener("htmx:afterSettle", function () {
    var card = currentCard();
    if (!card) { return; }
    markCurrent(card);
    var active = document.activeElement;
    if (!active || active === document.body || !document.contains(active)) { card.focus({ preventScroll: true }); }
  });

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", drawCharts);
  } else {
    drawCharts();
  }
})();
