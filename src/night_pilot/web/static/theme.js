// Applies the saved theme before the page paints (loaded in <head>, blocking, tiny).
(function () {
  try {
    var t = localStorage.getItem("cnp-theme");
    if (t === "light" || t === "dark") document.documentElement.dataset.theme = t;
  } catch (e) { /* storage disabled: automatic theme */ }
})();
