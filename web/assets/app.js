// Live pages: when the office's data changes (a phone synced, a check was
// recorded), fetch this page again and swap its main part in, keeping the
// scroll position and the focus. Never while someone is typing in a form:
// then the refresh waits until they leave it.
(function () {
  "use strict";
  var main = document.getElementById("main");
  var live = document.getElementById("live");
  if (!main || !window.EventSource) { return; }
  // A page that answered a form (an invite, a roster check) shows that
  // answer: fetching its address again would not.
  if (document.body.getAttribute("data-live") === "off") {
    if (live) { live.hidden = true; }
    return;
  }
  var pending = false;
  var busy = false;

  // Whether the person has started filling in a form on this page: a
  // refresh would throw that away.
  function editing() {
    var a = document.activeElement;
    if (a && main.contains(a) && a.form) { return true; }
    var fields = main.querySelectorAll("input, textarea, select");
    for (var i = 0; i < fields.length; i++) {
      var f = fields[i];
      if (f.type === "hidden" || f.type === "submit") { continue; }
      if (f.type === "file") { if (f.files && f.files.length > 0) { return true; } continue; }
      if (f.type === "checkbox" || f.type === "radio") {
        if (f.checked !== f.defaultChecked) { return true; }
        continue;
      }
      if (f.tagName === "SELECT") {
        // With no option marked selected, the first one is the default.
        var initial = 0;
        for (var j = 0; j < f.options.length; j++) {
          if (f.options[j].defaultSelected) { initial = j; }
        }
        if (f.selectedIndex !== initial) { return true; }
        continue;
      }
      if (f.value !== f.defaultValue) { return true; }
    }
    return false;
  }

  function refresh() {
    if (busy) { pending = true; return; }
    if (editing()) { pending = true; return; }
    pending = false;
    busy = true;
    fetch(window.location.href, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html === null) { return; }
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("main");
        if (!fresh || editing()) { pending = true; return; }
        var x = window.scrollX, y = window.scrollY;
        var focused = document.activeElement && document.activeElement.id;
        main.innerHTML = fresh.innerHTML;
        window.scrollTo(x, y);
        if (focused) {
          var f = document.getElementById(focused);
          if (f) { f.focus({ preventScroll: true }); }
        }
        document.body.setAttribute("data-version", String(Date.now()));
      })
      .catch(function () { pending = true; })
      .then(function () {
        busy = false;
        if (pending && !editing()) { refresh(); }
      });
  }

  main.addEventListener("focusout", function () {
    setTimeout(function () { if (pending && !editing()) { refresh(); } }, 0);
  });

  var source = new EventSource("/events");
  // Each open stream holds one of the browser's few connections to the
  // office PC: give it back as soon as the page is left.
  window.addEventListener("pagehide", function () { source.close(); });
  source.addEventListener("changed", refresh);
  source.onopen = function () {
    if (live) { live.textContent = live.getAttribute("data-ok"); live.classList.remove("off"); }
  };
  source.onerror = function () {
    if (live) { live.textContent = live.getAttribute("data-off"); live.classList.add("off"); }
  };
})();
