// Admin console forms: "Generate random token" fills the field in place (a POST to
// /admin/generate-token with the form's CSRF token). Without this script the button
// submits the form and the server shows it again with a new token.
(function () {
  "use strict";
  document.querySelectorAll("[data-generate-token]").forEach(function (button) {
    button.addEventListener("click", function (event) {
      var input = document.getElementById(button.getAttribute("data-generate-token"));
      var csrf = button.form && button.form.querySelector('input[name="csrf_token"]');
      if (!input || !csrf || !window.fetch) return;
      event.preventDefault();
      var body = new URLSearchParams();
      body.set("csrf_token", csrf.value);
      fetch("/admin/generate-token", { method: "POST", body: body, credentials: "same-origin" })
        .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
        .then(function (data) { input.type = "text"; input.value = data.token; input.focus(); })
        .catch(function () { button.form.requestSubmit(button); });
    });
  });
})();
