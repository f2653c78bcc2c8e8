// Fill in the mail server form from the chosen provider preset.
(function () {
  "use strict";
  var presets = JSON.parse(document.getElementById("mail-presets").textContent);
  var select = document.getElementById("id_preset");
  if (!select) { return; }
  select.addEventListener("change", function () {
    var preset = presets.find(function (p) { return p.key === select.value; });
    if (!preset) { return; }
    document.getElementById("id_host").value = preset.host;
    document.getElementById("id_port").value = preset.port;
    document.getElementById("id_protocol").value = preset.protocol;
    document.getElementById("id_use_tls").checked = preset.use_tls;
    document.getElementById("id_use_auth").checked = preset.use_auth;
    var help = document.getElementById("id_preset_helptext");
    if (help) { help.textContent = preset.note; }
  });
})();
