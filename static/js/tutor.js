// The tutor's chat: keep the newest message in view, send with Ctrl+Enter, and put the cursor back in
// the message box when the tutor's reply is complete. The reply itself streams through htmx's SSE
// extension (no inline scripts: the content security policy forbids them).
(function () {
  "use strict";

  function transcript() { return document.getElementById("transcript"); }

  function isNearBottom() {
    return window.innerHeight + window.scrollY >= document.body.scrollHeight - 160;
  }

  function showNewest(force) {
    var list = transcript();
    if (!list || !list.lastElementChild) { return; }
    if (force || isNearBottom()) { list.lastElementChild.scrollIntoView({ block: "end", behavior: "smooth" }); }
  }

  function focusMessage() {
    var box = document.getElementById("message-text");
    if (box && !box.disabled) { box.focus(); }
  }

  document.addEventListener("htmx:sseMessage", function (event) {
    var kind = event.detail && event.detail.type;
    showNewest(false);
    if (kind === "done") { focusMessage(); }
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail && event.detail.target === transcript()) { showNewest(true); }
  });

  document.addEventListener("keydown", function (event) {
    var box = event.target;
    if (box && box.id === "message-text" && event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      var form = box.closest("form");
      if (form) { form.requestSubmit(); }
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    if (transcript()) { showNewest(true); focusMessage(); }
  });
})();
