// Keel review UI: keyboard shortcuts and clickable queue rows. No framework, no inline script (strict CSP).
(function () {
  "use strict";
  var rows = Array.prototype.slice.call(document.querySelectorAll("tr.row"));
  var selected = rows.length ? 0 : -1;

  function mark() {
    rows.forEach(function (row, i) { row.classList.toggle("selected", i === selected); });
    if (selected >= 0) rows[selected].scrollIntoView({ block: "nearest" });
  }

  function typing(target) {
    var tag = (target && target.tagName) || "";
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable);
  }

  function submitForm(form) {
    if (form.requestSubmit) form.requestSubmit(); else form.submit();
  }

  rows.forEach(function (row) {
    row.addEventListener("click", function (event) {
      if (event.target.tagName !== "A") window.location = row.getAttribute("data-href");
    });
  });
  mark();

  var help = document.getElementById("help");
  var toggle = document.getElementById("help-toggle");
  if (toggle && help) toggle.addEventListener("click", function () { help.hidden = !help.hidden; });

  document.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && event.target.form) {
      event.preventDefault();
      submitForm(event.target.form);
      return;
    }
    if (typing(event.target) || event.ctrlKey || event.metaKey || event.altKey) return;
    var key = event.key;
    if (key === "?" && help) { help.hidden = !help.hidden; return; }
    if (rows.length && (key === "j" || key === "k")) {
      selected = Math.max(0, Math.min(rows.length - 1, selected + (key === "j" ? 1 : -1)));
      mark();
      return;
    }
    if (rows.length && (key === "o" || key === "Enter") && selected >= 0) {
      window.location = rows[selected].getAttribute("data-href");
      return;
    }
    if (key === "u") { window.location = "/review"; return; }
    var focus = document.querySelector("[data-focus-key='" + key + "']");
    if (focus) { event.preventDefault(); focus.focus(); return; }
    var form = document.querySelector("form[data-key='" + key + "']");
    if (form) { event.preventDefault(); submitForm(form); }
  });
})();
