// CVM dashboard: draw the Plotly charts whose specs the server embedded, and apply filters on change.
(function () {
  "use strict";
  var config = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["select2d", "lasso2d"] };

  function drawCharts() {
    if (!window.Plotly) { return; }
    var locale = document.getElementById("chart-locale");  // month names in the page's language (CLDR)
    var names = locale ? JSON.parse(locale.textContent) : null;
    if (names && names.name !== "en" && !config.locale) {  // Plotly knows English already
      window.Plotly.register(names);
      config.locale = names.name;
    }
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

  // A card or table wrapper that scrolls sideways must be reachable by keyboard (WCAG 2.1.1): focusable,
  // and named after its heading. Checked again when the window is resized.
  function scrollableRegions() {
    document.querySelectorAll(".card, .scroll, .chart, table.data").forEach(function (el) {
      var scrolls = el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflowX !== "visible";
      if (scrolls && !el.hasAttribute("tabindex")) {
        el.setAttribute("tabindex", "0");
        el.dataset.scrollRegion = "1";
        if (!el.hasAttribute("aria-label") && !el.hasAttribute("aria-labelledby")) {
          var heading = el.querySelector("h2, h3, figcaption, caption");
          el.setAttribute("role", "region");
          el.setAttribute("aria-label", heading ? heading.textContent.trim() : "table");
        }
      } else if (!scrolls && el.dataset.scrollRegion) {
        el.removeAttribute("tabindex");
        delete el.dataset.scrollRegion;
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    drawCharts();
    autosubmit();
    scrollableRegions();
    window.addEventListener("resize", scrollableRegions);
  });
})();
