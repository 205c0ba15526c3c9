// Starts Swagger UI on /docs (a file, not an inline script, so the page keeps script-src 'self').
"use strict";
(function () {
  const root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapi,
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    deepLinking: false, // with deep links each operation's path is a link inside its toggle button (nested-interactive)
    showExtensions: true,
    showCommonExtensions: true,
    validatorUrl: null, // no request to the online validator
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  });
})();
