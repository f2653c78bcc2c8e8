// What every page does for keyboard and screen reader users: move focus to the error summary or
// to the notifications after a submit, let the summary's links focus their fields, and fold the
// navigation into a Menu button on small screens.
(function () {
  "use strict";

  var summary = document.querySelector("[data-error-summary]");
  var notifications = document.querySelector("[data-notifications]");
  if (summary) {
    summary.focus();
    summary.addEventListener("click", function (event) {
      var link = event.target.closest("a[href^='#']");
      var field = link && document.getElementById(link.getAttribute("href").slice(1));
      if (!field) { return; }
      event.preventDefault();
      // The label (and the question it asks) shows above the field, not cut off at the top.
      var label = document.querySelector("label[for='" + field.id + "']");
      (label || field).scrollIntoView();
      field.focus({ preventScroll: true });
    });
  } else if (notifications) {
    notifications.focus();
  }

  var header = document.querySelector("[data-site-header]");
  var toggle = document.querySelector("[data-menu-toggle]");
  if (header && toggle) {
    header.classList.add("menu-enhanced");
    var setOpen = function (open) {
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
      header.classList.toggle("menu-open", open);
    };
    toggle.addEventListener("click", function () {
      setOpen(toggle.getAttribute("aria-expanded") !== "true");
    });
    // Escape closes an open menu and gives focus back to its button, as a disclosure should.
    header.addEventListener("keydown", function (event) {
      if (event.key !== "Escape" || toggle.getAttribute("aria-expanded") !== "true") { return; }
      setOpen(false);
      toggle.focus();
    });
  }
})();
