// Admin console: refresh the queue dashboard from /admin/queues.json every 2 seconds.
// The page is complete without this script (server-rendered); this only keeps it live.
(function () {
  "use strict";
  var table = document.querySelector('[data-testid="queue-table"]');
  if (!table) return;
  var status = document.querySelector('[data-testid="dashboard-status"]');
  var source = table.getAttribute("data-source");

  function show(text, ok) {
    if (!status) return;
    status.textContent = text;
    status.className = "conn " + (ok ? "conn-online" : "conn-offline");
  }

  function format(field, value) {
    return field === "longest_waiting_seconds" ? String(Math.round(value)) : String(value);
  }

  function apply(data) {
    (data.queues || []).forEach(function (q) {
      var row = table.querySelector('tr[data-queue="' + CSS.escape(q.queue) + '"]');
      if (!row) return;
      row.querySelectorAll("td[data-field]").forEach(function (cell) {
        var field = cell.getAttribute("data-field");
        if (field in q) {
          var text = format(field, q[field]);
          if (cell.textContent !== text) cell.textContent = text;
        }
      });
    });
  }

  function poll() {
    fetch(source, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (resp) {
        if (resp.redirected || resp.status === 401) {
          window.location.assign("/admin/login");
          return null;
        }
        if (!resp.ok) throw new Error("HTTP " + resp.status);
        return resp.json();
      })
      .then(function (data) {
        if (data) { apply(data); show("live", true); }
      })
      .catch(function () { show("offline: retrying", false); })
      .finally(function () { window.setTimeout(poll, 2000); });
  }

  window.setTimeout(poll, 2000);
})();
