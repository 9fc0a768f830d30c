// Admin console, media stream form: live preview of the reply templates. The form works
// without this script (its "Preview replies" button renders the same preview on the server);
// this only posts the templates to the preview endpoint while the admin types.
(function () {
  "use strict";
  var form = document.querySelector('[data-testid="stream-form"]');
  if (!form) return;
  var url = form.getAttribute("data-preview-url");
  var timer = null;
  var sent = 0;

  function field(name) { return form.querySelector('[name="' + name + '"]'); }

  function show(data) {
    ["initial_reply", "after_hours_reply"].forEach(function (name) {
      var box = form.querySelector('[data-preview-for="' + name + '"] [data-preview-text]');
      var error = form.querySelector('[data-error-for="' + name + '"]');
      var message = (data.errors || {})[name];
      if (error) {
        error.textContent = message || "";
        error.hidden = !message;
        error.parentNode.classList.toggle("has-error", Boolean(message));
      }
      if (box && !message) {
        box.textContent = (data.previews || {})[name] || "(nothing sent)";
      }
    });
  }

  function preview() {
    var body = new URLSearchParams();
    ["csrf_token", "name", "language", "initial_reply", "after_hours_reply"].forEach(function (n) {
      var input = field(n);
      if (input) body.append(n, input.value);
    });
    var mine = ++sent;
    fetch(url, { method: "POST", body: body, credentials: "same-origin",
                 headers: { Accept: "application/json" } })
      .then(function (resp) { return resp.ok ? resp.json() : null; })
      .then(function (data) { if (data && mine === sent) show(data); })
      .catch(function () { /* the server-side preview button still works */ });
  }

  function later() {
    if (timer) window.clearTimeout(timer);
    timer = window.setTimeout(preview, 250);
  }

  ["name", "language", "initial_reply", "after_hours_reply"].forEach(function (n) {
    var input = field(n);
    if (input) input.addEventListener("input", later);
  });
})();
