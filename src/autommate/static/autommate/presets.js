// Fill in the mail server form from the chosen provider preset.
(function () {
  "use strict";
  var presets = JSON.parse(document.getElementById("mail-presets").textContent);
  var select = document.getElementById("id_preset");
  if (!select) { return; }

  function set(id, value) {
    var field = document.getElementById(id);
    if (field) { field.value = value; }
  }

  // Tell the page that a field changed, as if the administrator had changed it, so that the
  // authentication method's fields show.
  function changed(id) {
    var field = document.getElementById(id);
    if (field) { field.dispatchEvent(new Event("change", { bubbles: true })); }
  }

  select.addEventListener("change", function () {
    var preset = presets.find(function (p) { return p.key === select.value; });
    if (!preset) { return; }
    set("id_host", preset.host);
    set("id_port", preset.port);
    set("id_protocol", preset.protocol);
    document.getElementById("id_use_tls").checked = preset.use_tls;
    document.getElementById("id_use_auth").checked = preset.use_auth;
    set("id_auth_method", preset.auth_method || "password");
    if (preset.token_url) { set("id_token_url", preset.token_url); }
    if (preset.scope) { set("id_scope", preset.scope); }
    changed("id_use_auth");
    changed("id_auth_method");
    var help = document.getElementById("id_preset_helptext");
    if (help) { help.textContent = preset.note; }
  });
})();
