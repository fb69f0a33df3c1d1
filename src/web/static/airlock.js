// airlock web UI: progressive enhancements only; every page works without
// this file. No inline handlers (the CSP forbids them).
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  // A "copy" button beside each full digest.
  document.querySelectorAll("code.digest[title]").forEach(function (el) {
    if (!navigator.clipboard) return;
    var b = document.createElement("button");
    b.type = "button";
    b.className = "link copy";
    b.textContent = "copy";
    b.setAttribute("aria-label", "copy the full sha256");
    b.addEventListener("click", function () {
      navigator.clipboard.writeText(el.getAttribute("title")).then(function () {
        b.textContent = "copied";
      });
    });
    el.insertAdjacentElement("afterend", b);
  });
  // Ask before rejecting or approving (the form still works without it).
  document.querySelectorAll("form[data-confirm]").forEach(function (f) {
    f.addEventListener("submit", function (ev) {
      if (!window.confirm(f.getAttribute("data-confirm"))) ev.preventDefault();
    });
  });
});
