// CVM dashboard: draw the Plotly charts whose specs the server embedded, and apply filters on change.
(function () {
  "use strict";
  var config = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["select2d", "lasso2d"] };

  function drawCharts() {
    if (!window.Plotly) { return; }
    document.querySelectorAll("[data-chart]").forEach(function (div) {
      var spec = JSON.parse(document.getElementById(div.dataset.chart).textContent);
      window.Plotly.newPlot(div, spec.data, spec.layout, config);
    });
  }

  function autosubmit() {
    document.querySelectorAll("form[data-autosubmit] select").forEach(function (select) {
      select.addEventListener("change", function () { select.form.submit(); });
    });
  }

  document.addEventListener("DOMContentLoaded", function () { drawCharts(); autosubmit(); });
})();
