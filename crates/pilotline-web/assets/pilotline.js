// Pilotline's only script: it is not needed to use any page (every action is a plain form).
// It tells the server the browser's time zone (so times show in the viewer's zone), refreshes
// the parts of a page marked data-poll without a reload (marked as polls, so they do not keep
// an idle session alive), and counts Q-time deadlines down.
(function () {
  "use strict";
  var offset = -new Date().getTimezoneOffset();
  if (document.cookie.indexOf("pilotline_tz=" + offset) < 0) {
    document.cookie = "pilotline_tz=" + offset + "; Path=/; Secure; SameSite=Lax; Max-Age=31536000";
  }

  function poll(el) {
    var every = Math.max(2, parseInt(el.getAttribute("data-poll-seconds") || "5", 10)) * 1000;
    setInterval(function () {
      if (document.hidden) { return; }
      fetch(el.getAttribute("data-poll"), {
        headers: { "X-Pilotline-Poll": "1" },
        credentials: "same-origin",
        redirect: "manual"
      }).then(function (res) {
        if (res.status === 200) { return res.text(); }
        if (res.type === "opaqueredirect" || res.status === 401) { location.reload(); }
        return null;
      }).then(function (html) {
        if (html !== null && html !== undefined) { el.innerHTML = html; }
      }).catch(function () {});
    }, every);
  }

  function countdowns() {
    var now = Date.now();
    document.querySelectorAll("[data-deadline]").forEach(function (el) {
      var left = Math.round((Date.parse(el.getAttribute("data-deadline")) - now) / 60000);
      var sign = left < 0 ? "-" : "";
      left = Math.abs(left);
      el.textContent = sign + Math.floor(left / 60) + ":" + String(left % 60).padStart(2, "0");
      el.classList.toggle("late", sign === "-");
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-poll]").forEach(poll);
    if (document.querySelector("[data-deadline]")) { countdowns(); setInterval(countdowns, 30000); }
  });
})();
