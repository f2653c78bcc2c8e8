// The Copy button beside a new API token: copies it to the clipboard and says so. Where the
// clipboard cannot be written (an insecure origin, a refused permission), it selects the token
// instead so that Ctrl+C or the context menu copies it. Its words come from the page, translated.
(function () {
  "use strict";
  var button = document.querySelector("[data-copy-target]");
  if (!button) {
    return;
  }
  var target = document.getElementById(button.getAttribute("data-copy-target"));
  var status = document.getElementById(button.getAttribute("data-copy-status"));
  button.hidden = false;

  function selectToken() {
    var range = document.createRange();
    range.selectNodeContents(target);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    status.textContent = button.getAttribute("data-selected");
  }

  button.addEventListener("click", function () {
    var text = target.textContent.trim();
    if (!navigator.clipboard || !window.isSecureContext) {
      selectToken();
      return;
    }
    navigator.clipboard.writeText(text).then(function () {
      status.textContent = button.getAttribute("data-copied");
    }, selectToken);
  });
})();
