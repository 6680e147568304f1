// The desk page's live parts: countdowns tick every second from the server's clock, and the content is
// fetched again every few seconds (the same server-rendered HTML the page started with). Without
// JavaScript the page is a static snapshot of the moment it was served.
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live) { return; }
  var REFRESH_MS = 2000;
  var offset = 0; // the server's clock minus this browser's: countdowns follow the desk's time

  function sync() {
    var stamp = live.querySelector("[data-now]");
    if (stamp) { offset = Date.parse(stamp.getAttribute("data-now")) - Date.now(); }
  }

  function pad(n) { return n < 10 ? "0" + n : "" + n; }

  function format(ms) {
    var total = Math.floor(Math.abs(ms) / 1000);
    var h = Math.floor(total / 3600), m = Math.floor(total % 3600 / 60), s = total % 60;
    return (ms <= 0 ? "\u2212" : "") + h + ":" + pad(m) + ":" + pad(s);
  }

  function band(ms) {
    if (ms <= 0) { return "band-breached"; }
    if (ms < 15 * 60000) { return "band-hot"; }
    if (ms < 60 * 60000) { return "band-warn"; }
    return "band-ok";
  }

  var BANDS = ["band-ok", "band-warn", "band-hot", "band-breached"];

  function paint(el, name) {
    BANDS.forEach(function (b) { el.classList.toggle(b, b === name); });
  }

  function tick() {
    var now = Date.now() + offset;
    live.querySelectorAll("[data-deadline]").forEach(function (el) {
      var ms = Date.parse(el.getAttribute("data-deadline")) - now;
      el.textContent = format(ms);
      paint(el, band(ms));
      var row = el.closest("tr");
      if (row) { paint(row, band(ms)); }
    });
  }

  function stale(on) {
    var mark = live.querySelector(".stale"), note = live.querySelector(".live-note");
    if (mark) { mark.hidden = !on; }
    if (note) { note.hidden = on; } // "updates itself" only where it does
  }

  function refresh() {
    fetch(live.getAttribute("data-src"), {credentials: "same-origin", cache: "no-store"})
      .then(function (response) {
        if (response.status === 401 || response.status === 404) { window.location.reload(); return null; }
        if (!response.ok) { throw new Error(response.status); }
        return response.text();
      })
      .then(function (html) {
        if (html === null) { return; }
        live.innerHTML = html; // the server's own escaped HTML, from this origin only (CSP)
        sync();
        tick();
        stale(false);
      })
      .catch(function () { stale(true); })
      .then(function () { window.setTimeout(refresh, REFRESH_MS); });
  }

  sync();
  tick();
  stale(false);
  window.setInterval(tick, 1000);
  window.setTimeout(refresh, REFRESH_MS);
}());
