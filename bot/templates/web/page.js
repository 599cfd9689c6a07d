// incident-bot pages: times in the reader's zone (UTC stays on hover), and the live timeline.
"use strict";
(function () {
  function localize(root) {
    root.querySelectorAll("time.local").forEach(function (el) {
      var at = new Date(el.getAttribute("datetime"));
      if (isNaN(at)) return;
      el.textContent = at.toLocaleString(undefined, {
        year: "numeric", month: "short", day: "numeric",
        hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short"
      });
      el.title = el.getAttribute("datetime") + " (UTC)";
    });
  }
  window.incidentBot = { localize: localize };
  document.addEventListener("DOMContentLoaded", function () { localize(document); });
})();
