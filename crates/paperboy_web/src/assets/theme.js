// paperboy: applies the theme the reader chose before the page paints (so a dark page never
// flashes light). Loaded in <head> without `defer`; app.js does the rest.
(function () {
  "use strict";
  try {
    var saved = localStorage.getItem("paperboy-theme");
    if (saved === "light" || saved === "dark") { document.documentElement.setAttribute("data-theme", saved); }
  } catch (e) { /* storage is off: the system's theme applies */ }
}());
