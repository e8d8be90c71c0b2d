// paperboy: the theme switch, copying BibTeX, folding the filters on a phone and the keyboard
// shortcuts. Pages work without it; the buttons it drives stay hidden until it runs.
//
// Shortcuts (WCAG 2.1.4): they never take a key from a field, a button or any other control, and
// never take Enter or Space; `j` / `k` move the focus itself to a result's title link (so Enter
// opens it, Tab goes on from there and screen readers follow); the footer's switch turns them off.
(function () {
  "use strict";
  var root = document.documentElement;

  function stored(key) {
    try { return localStorage.getItem(key); } catch (e) { return null; }
  }
  function store(key, value) {
    try { localStorage.setItem(key, value); } catch (e) { /* private mode */ }
  }
  function isDark() {
    var theme = root.getAttribute("data-theme");
    return theme === "dark" || (!theme && window.matchMedia("(prefers-color-scheme: dark)").matches);
  }
  // Kept in memory too: with storage off, the switch still works for this page.
  var shortcuts = stored("paperboy-shortcuts") !== "off";
  function shortcutsOn() { return shortcuts; }

  document.addEventListener("DOMContentLoaded", function () {
    var toggle = document.querySelector("button.theme");
    if (toggle) {
      toggle.hidden = false;
      toggle.setAttribute("aria-pressed", String(isDark()));
      toggle.addEventListener("click", function () {
        var next = isDark() ? "light" : "dark";
        root.setAttribute("data-theme", next);
        store("paperboy-theme", next);
        toggle.setAttribute("aria-pressed", String(next === "dark"));
      });
    }
    var keys = document.querySelector("button.shortcuts");
    if (keys) {
      keys.hidden = false;
      keys.setAttribute("aria-pressed", String(shortcutsOn()));
      keys.addEventListener("click", function () {
        shortcuts = !shortcuts;
        store("paperboy-shortcuts", shortcuts ? "on" : "off");
        keys.setAttribute("aria-pressed", String(shortcuts));
      });
    }
    document.querySelectorAll("button[data-copy]").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        var source = document.getElementById(button.getAttribute("data-copy"));
        if (source && navigator.clipboard) {
          navigator.clipboard.writeText(source.textContent).then(function () { button.textContent = "Copied"; });
        }
      });
    });
    // On a phone, filters nobody set fold away so that the results come first; on a wide screen
    // (where their summary is hidden) they are always open, also after turning the phone.
    var filters = document.querySelector("form.filters details[data-fold]");
    var wide = window.matchMedia("(min-width: 40rem)");
    if (filters) {
      if (!wide.matches) { filters.open = false; }
      var widened = function (event) { if (event.matches) { filters.open = true; } };
      if (wide.addEventListener) { wide.addEventListener("change", widened); } else if (wide.addListener) { wide.addListener(widened); }
    }
    document.addEventListener("focusin", function (event) {
      var list = results();
      var at = list.findIndex(function (item) { return item.contains(event.target); });
      if (at >= 0) { current = at; mark(list, at); }
    });
  });

  // Results: papers in a list, or the trending list's entries.
  function results() {
    return Array.prototype.slice.call(document.querySelectorAll("article.paper, ol.trending > li"));
  }
  function titleLink(item) { return item.querySelector(".title a") || item.querySelector("a"); }
  function mark(list, at) {
    list.forEach(function (item, i) {
      if (i === at) { item.setAttribute("aria-current", "true"); } else { item.removeAttribute("aria-current"); }
    });
  }
  var current = -1;
  function focused(list) {
    var at = list.findIndex(function (item) { return item.contains(document.activeElement); });
    return at >= 0 ? at : current;
  }
  function move(by) {
    var list = results();
    if (!list.length) { return; }
    var at = focused(list);
    current = at < 0 ? 0 : Math.max(0, Math.min(list.length - 1, at + by));
    mark(list, current);
    var link = titleLink(list[current]);
    if (link) { link.focus(); link.scrollIntoView({ block: "nearest" }); }
  }
  var CONTROLS = "button, summary, select, audio, video, [role=button], [role=checkbox], [role=switch], " +
    "[role=tab], [role=menuitem], [role=slider], [role=listbox], [role=combobox]";
  function isField(element) {
    return element && (element.tagName === "INPUT" || element.tagName === "SELECT" ||
      element.tagName === "TEXTAREA" || element.isContentEditable);
  }

  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) { return; }
    if (isField(target)) {
      if (event.key === "Escape" && shortcutsOn()) { target.blur(); }
      return;
    }
    if (!shortcutsOn()) { return; }
    // A focused button, summary or other control keeps all its keys; links use only Enter, and
    // the page's own regions (main, the results) take none.
    if (target && target.closest && target.closest(CONTROLS)) { return; }
    if (event.key === "/") {
      var box = document.querySelector("input[name=q]");
      if (box) { event.preventDefault(); box.focus(); box.select(); }
    } else if (event.key === "j") {
      event.preventDefault();
      move(1);
    } else if (event.key === "k") {
      event.preventDefault();
      move(-1);
    } else if (event.key === "o") {
      var list = results();
      var at = focused(list);
      var link = at >= 0 ? titleLink(list[at]) : null;
      if (link) { event.preventDefault(); window.location.href = link.href; }
    }
  });
}());
