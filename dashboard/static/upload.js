// Uploads of the enterprise file (plant page) and of the plant's answer (public answer page): the file
// itself is the body (no multipart parsing on the server), with the session's CSRF token in a header
// where there is a session; the page reloads to list it.
(function () {
  "use strict";
  var form = document.getElementById("upload-form");
  if (!form) return;
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var file = form.querySelector('input[type="file"]').files[0];
    var out = form.querySelector(".upload-result");
    if (!file) return;
    var select = form.querySelector("select");  // the plant's answer form has no category
    var url = form.dataset.action + "?" + new URLSearchParams({ filename: file.name, category: select ? select.value : "other",
                                                          lang: document.documentElement.lang });
    fetch(url, {
      method: "POST", credentials: "same-origin", body: file,
      headers: { "Content-Type": "application/octet-stream", "X-CSRF-Token": document.body.dataset.csrf || "" }
    }).then(function (r) {
      return r.json().then(function (d) {
        if (r.ok) { window.location.reload(); } else { out.textContent = d.detail || String(r.status); }
      });
    });
  });
})();
