// Tutorloop's small amount of page glue. No inline scripts: the content security policy forbids them.
// <form data-confirm="..."> asks before it posts, on every page (a release, a retirement, ending a session).
document.addEventListener("submit", function (event) {
  var form = event.target;
  var message = form.getAttribute && form.getAttribute("data-confirm");
  if (message && !window.confirm(message)) {
    event.preventDefault();
    event.stopImmediatePropagation();
  }
}, true);

// <textarea data-max-chars="N"> shows how many characters it holds and refuses to send more than N, instead of
// cutting a pasted text silently (maxlength would); the counter (data-char-count-for) is announced politely.
function charCount(field) {
  var max = parseInt(field.getAttribute("data-max-chars"), 10);
  var counter = document.querySelector('[data-char-count-for="' + field.id + '"]');
  var length = field.value.length;
  var over = length > max;
  if (counter) {
    counter.textContent = length.toLocaleString("en") + " / " + max.toLocaleString("en") + " characters" +
      (over ? ": " + (length - max).toLocaleString("en") + " too many, shorten it to send" : "");
    counter.classList.toggle("field-error", over);
  }
  if (over) { field.setAttribute("aria-invalid", "true"); } else { field.removeAttribute("aria-invalid"); }
  return !over;
}
document.addEventListener("input", function (event) {
  if (event.target.matches && event.target.matches("textarea[data-max-chars]")) { charCount(event.target); }
});
document.addEventListener("submit", function (event) {
  var field = event.target.querySelector && event.target.querySelector("textarea[data-max-chars]");
  if (field && !charCount(field)) {
    event.preventDefault();
    event.stopImmediatePropagation();
    field.focus();
  }
}, true);

// A 422 answer is the same form again with its errors at the fields and the input kept: swap it in.
document.addEventListener("htmx:beforeSwap", function (event) {
  if (event.detail.xhr.status === 422) {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});
document.addEventListener("htmx:responseError", function (event) {
  // Show the server's error message (an HTML fragment or the API's JSON error) instead of failing silently.
  var xhr = event.detail.xhr;
  var message = "Something went wrong (" + xhr.status + ").";
  try {
    var body = JSON.parse(xhr.responseText);
    if (body && body.error && body.error.message) { message = body.error.message; }
  } catch (ignored) {
    var doc = new DOMParser().parseFromString(xhr.responseText, "text/html");
    var node = doc.querySelector(".error-message, .message-error");
    if (node) { message = node.textContent.trim(); }
  }
  var target = document.querySelector("#htmx-error") || document.querySelector(".messages");
  if (!target) {
    target = document.createElement("div");
    target.className = "messages";
    target.id = "htmx-error";
    document.querySelector("main").prepend(target);
  }
  var p = document.createElement("p");
  p.className = "message message-error";
  p.setAttribute("role", "alert");
  p.textContent = message;
  target.replaceChildren(p);
});
