// incident-bot pages: times in the reader's zone (UTC stays on hover), and the live timeline.
"use strict";
(function () {
  var PHASES = ["detection", "response", "mitigation", "resolution"];

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

  function phaseList(container, phase) {
    var found = container.querySelector('section.phase[data-phase="' + phase + '"] ol.events');
    if (found) return found;
    var section = document.createElement("section");
    section.className = "phase";
    section.setAttribute("data-phase", phase);
    var heading = document.createElement("h3");
    heading.textContent = phase.charAt(0).toUpperCase() + phase.slice(1);
    var list = document.createElement("ol");
    list.className = "events";
    section.appendChild(heading);
    section.appendChild(list);
    // Keep the phases in their order.
    var later = null;
    container.querySelectorAll("section.phase").forEach(function (other) {
      if (!later && PHASES.indexOf(other.getAttribute("data-phase")) > PHASES.indexOf(phase)) {
        later = other;
      }
    });
    container.insertBefore(section, later);
    var empty = document.getElementById("empty");
    if (empty) empty.remove();
    return list;
  }

  function follow(container) {
    var url = container.getAttribute("data-live");
    if (!url || !window.EventSource) return;
    var state = document.getElementById("live-state");
    var source = new EventSource(url);
    source.addEventListener("timeline", function (message) {
      var data = JSON.parse(message.data);
      if (document.getElementById("event-" + data.id)) return;
      var list = phaseList(container, data.phase);
      // The server rendered (and escaped) the row; it is the page's own markup.
      list.insertAdjacentHTML("beforeend", data.html);
      var row = document.getElementById("event-" + data.id);
      if (row) {
        row.classList.add("new");
        localize(row);
      }
      var count = document.getElementById("count");
      if (count) count.setAttribute("data-live-added", String(Number(count.getAttribute("data-live-added") || 0) + 1));
    });
    source.onopen = function () { if (state) state.textContent = "Live: new events appear here without a reload."; };
    source.onerror = function () { if (state) state.textContent = "Live updates interrupted; reconnecting..."; };
  }

  window.incidentBot = { localize: localize };
  document.addEventListener("DOMContentLoaded", function () {
    localize(document);
    var phases = document.getElementById("phases");
    if (phases) follow(phases);
  });
})();
