// Fill in the mail server form from a provider preset, only when Apply preset is pressed: choosing
// in the list (with the arrow keys, say) changes nothing. Values already entered are replaced only
// after the administrator confirms, in a region of the page the keyboard reaches. Its words come
// from the page, in the page's language: its own from data attributes, the fields' from their labels.
(function () {
  "use strict";
  var presets = JSON.parse(document.getElementById("mail-presets").textContent);
  var select = document.getElementById("id_preset");
  var actions = document.querySelector("[data-preset-actions]");
  if (!select || !actions) { return; }
  var applyButton = actions.querySelector("[data-preset-apply]");
  var confirmRegion = actions.querySelector("[data-preset-confirm]");
  var confirmText = document.getElementById("preset-confirm-text");
  var help = document.getElementById("id_preset_helptext");
  var defaultHelp = help ? help.textContent : "";

  function field(id) { return document.getElementById(id); }

  function labelOf(id) {
    var label = document.querySelector('label[for="' + id + '"]');
    return label ? label.textContent.trim() : id;
  }

  function chosen() {
    return presets.find(function (p) { return p.key === select.value; });
  }

  // What the preset would write, by field id.
  function valuesOf(preset) {
    var values = {
      id_host: preset.host, id_port: String(preset.port), id_protocol: preset.protocol,
      id_use_tls: preset.use_tls, id_use_auth: preset.use_auth,
      id_auth_method: preset.auth_method || "password"
    };
    if (preset.token_url) { values.id_token_url = preset.token_url; }
    if (preset.scope) { values.id_scope = preset.scope; }
    // The provider's send rate limit; empty where it publishes none.
    values.id_send_rate_per_minute = preset.send_rate_per_minute == null ? "" : String(preset.send_rate_per_minute);
    values.id_max_connections = preset.max_connections == null ? "" : String(preset.max_connections);
    return values;
  }

  function current(input) {
    return input.type === "checkbox" ? input.checked : input.value;
  }

  // The entered values the preset would replace: none while the server name is still empty.
  function replaced(values) {
    var host = field("id_host");
    if (!host || !host.value.trim()) { return []; }
    return Object.keys(values).filter(function (id) {
      var input = field(id);
      return input && current(input) !== values[id] &&
        !(input.type !== "checkbox" && input.value.trim() === "");
    });
  }

  function changed(id) {
    var input = field(id);
    if (input) { input.dispatchEvent(new Event("change", { bubbles: true })); }
  }

  function apply(preset) {
    var values = valuesOf(preset);
    Object.keys(values).forEach(function (id) {
      var input = field(id);
      if (!input) { return; }
      if (input.type === "checkbox") { input.checked = values[id]; } else { input.value = values[id]; }
    });
    changed("id_use_auth");
    changed("id_auth_method");
    if (help) { help.textContent = preset.note; }
  }

  function closeConfirm() {
    confirmRegion.hidden = true;
  }

  select.addEventListener("change", function () {
    closeConfirm();
    var preset = chosen();
    applyButton.disabled = !preset;
    if (help) { help.textContent = preset ? actions.getAttribute("data-preset-hint") : defaultHelp; }
  });

  applyButton.addEventListener("click", function () {
    var preset = chosen();
    if (!preset) { return; }
    var ids = replaced(valuesOf(preset));
    if (!ids.length) { apply(preset); return; }
    confirmText.textContent = actions.getAttribute("data-preset-question")
      .replace("{preset}", function () { return preset.label; })
      .replace("{fields}", function () { return ids.map(labelOf).join(", "); });
    confirmRegion.hidden = false;
    confirmText.focus();
  });

  actions.querySelector("[data-preset-replace]").addEventListener("click", function () {
    var preset = chosen();
    closeConfirm();
    if (preset) { apply(preset); }
    select.focus();
  });

  actions.querySelector("[data-preset-cancel]").addEventListener("click", function () {
    closeConfirm();
    applyButton.focus();
  });

  applyButton.disabled = !chosen();
  actions.hidden = false;
})();
