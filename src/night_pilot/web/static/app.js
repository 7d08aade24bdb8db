// The dashboard's only script besides htmx: the theme toggle, the cooldown countdown,
// confirmations on destructive buttons, and keeping the live output scrolled.
(function () {
  "use strict";
  var root = document.documentElement;
  var order = ["auto", "light", "dark"];
  var icons = { auto: "◐", light: "☀", dark: "☾" };

  function currentTheme() {
    return root.dataset.theme === "light" || root.dataset.theme === "dark" ? root.dataset.theme : "auto";
  }
  function showTheme(btn) {
    var t = currentTheme();
    btn.textContent = icons[t];
    btn.title = "Theme: " + (t === "auto" ? "automatic (follows the system)" : t) + " — click to change";
    btn.setAttribute("data-theme-state", t);
  }
  function setupTheme() {
    var btn = document.getElementById("theme-toggle");
    if (!btn) return;
    showTheme(btn);
    btn.addEventListener("click", function () {
      var next = order[(order.indexOf(currentTheme()) + 1) % order.length];
      try {
        if (next === "auto") localStorage.removeItem("cnp-theme");
        else localStorage.setItem("cnp-theme", next);
      } catch (e) { /* not persisted */ }
      if (next === "auto") delete root.dataset.theme; else root.dataset.theme = next;
      showTheme(btn);
    });
  }

  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function tick() {
    var items = document.querySelectorAll("[data-countdown-to]");
    for (var i = 0; i < items.length; i++) {
      var el = items[i];
      var left = Math.round((Date.parse(el.getAttribute("data-countdown-to")) - Date.now()) / 1000);
      if (isNaN(left)) continue;
      if (left <= 0) {
        el.textContent = "0:00:00";
        if (!el.dataset.ended) {
          el.dataset.ended = "1";
          document.body.dispatchEvent(new CustomEvent("cooldown-ended"));
        }
        continue;
      }
      el.textContent = Math.floor(left / 3600) + ":" + pad(Math.floor(left % 3600 / 60)) + ":" + pad(left % 60);
    }
  }

  function setupConfirm() {
    document.addEventListener("submit", function (ev) {
      var form = ev.target;
      var question = form && form.getAttribute && form.getAttribute("data-confirm");
      if (question && !window.confirm(question)) ev.preventDefault();
    }, true);
  }

  function setupScroll() {
    var box = document.getElementById("events");
    if (!box) return;
    document.body.addEventListener("htmx:beforeSwap", function (ev) {
      if (ev.detail && ev.detail.target && ev.detail.target.id === "events-poll") {
        box.dataset.stick = (window.innerHeight + window.scrollY >= document.body.scrollHeight - 40) ? "1" : "";
      }
    });
    document.body.addEventListener("htmx:afterSettle", function () {
      if (box.dataset.stick === "1") window.scrollTo(0, document.body.scrollHeight);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    setupTheme();
    setupConfirm();
    setupScroll();
    tick();
    setInterval(tick, 1000);
  });
})();
