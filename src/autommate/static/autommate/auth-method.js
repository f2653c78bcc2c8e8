// Show only the fields of the chosen authentication method, and none while Use authentication is
// off. Without this script the fields of every method show, each group under its method's name,
// and the server ignores the groups of the methods not chosen. Hidden groups take no focus.
(function () {
  "use strict";
  var method = document.getElementById("id_auth_method");
  var useAuth = document.getElementById("id_use_auth");
  var details = document.querySelector("[data-auth-details]");
  if (!method || !details) { return; }
  var groups = details.querySelectorAll("[data-auth-method]");

  function show() {
    details.hidden = useAuth ? !useAuth.checked : false;
    groups.forEach(function (group) {
      group.hidden = group.getAttribute("data-auth-method") !== method.value;
    });
  }

  // The select already names the method, so the groups' own headings are for screen readers only.
  details.classList.add("auth-details-enhanced");
  method.addEventListener("change", show);
  if (useAuth) { useAuth.addEventListener("change", show); }
  // A page restored from the back-forward cache keeps the values its fields had.
  window.addEventListener("pageshow", show);
  show();
})();
