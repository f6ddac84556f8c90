// Live pages: when the office's data changes (a phone synced, a check was
// recorded), fetch this page again and swap its main part in, keeping the
// scroll position and the focus. Never while someone is typing in a form:
// then the refresh waits until they leave it.
(function () {
  "use strict";
  var main = document.getElementById("main");
  var live = document.getElementById("live");
  if (!main || !window.EventSource) { return; }
  var pending = false;
  var busy = false;

  function editing() {
    var a = document.activeElement;
    if (a && main.contains(a) && a.form) { return true; }
    var fields = main.querySelectorAll("textarea, input[type=text], input[type=search]");
    for (var i = 0; i < fields.length; i++) {
      if (fields[i].value !== fields[i].defaultValue) { return true; }
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
  source.addEventListener("changed", refresh);
  source.onopen = function () {
    if (live) { live.textContent = live.getAttribute("data-ok"); live.classList.remove("off"); }
  };
  source.onerror = function () {
    if (live) { live.textContent = live.getAttribute("data-off"); live.classList.add("off"); }
  };
})();
