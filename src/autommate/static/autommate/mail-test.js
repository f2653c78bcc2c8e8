// Send test mail sends the settings on the page along with the test recipient, so that a test of
// values not saved yet saves them first (the server says so) instead of testing other ones. The
// test stays a form of its own: Enter in Test recipient sends the test, not Save.
(function () {
  "use strict";
  var testForm = document.getElementById("mail-test-form");
  if (!testForm) { return; }
  var settingsForm = document.getElementById(testForm.getAttribute("data-settings-form"));
  if (!settingsForm) { return; }
  var sending = false;
  var hint = testForm.querySelector("[data-without-script]");
  if (hint) { hint.hidden = true; }
  var saveAction = settingsForm.action;

  testForm.addEventListener("submit", function (event) {
    event.preventDefault();
    if (sending) { return; }
    sending = true;
    var recipient = settingsForm.querySelector("input[name=test_recipient]");
    if (!recipient) {
      recipient = document.createElement("input");
      recipient.type = "hidden";
      recipient.name = "test_recipient";
      settingsForm.appendChild(recipient);
    }
    recipient.value = testForm.elements.test_recipient.value;
    settingsForm.action = testForm.action;
    settingsForm.submit();
  });
  // A page restored from the back-forward cache can send again, and its Save saves again.
  window.addEventListener("pageshow", function () {
    sending = false;
    settingsForm.action = saveAction;
    var carried = settingsForm.querySelector("input[type=hidden][name=test_recipient]");
    if (carried) { carried.remove(); }
  });
})();
