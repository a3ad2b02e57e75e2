// The template editor's live preview: as the admin types, the draft is posted (debounced) to
// the preview endpoint; its JSON fills the subject and text panes and the problems under each
// field, and, when the draft is valid, the form is posted once more into the sandboxed iframe
// (a page with its own CSP) to show the HTML. Save stays disabled while there are problems;
// the server refuses an invalid draft anyway.
(function () {
  "use strict";
  var form = document.getElementById("tpl-form");
  if (!form || !window.fetch || !window.URLSearchParams) return;

  var DELAY_MS = 400;
  var previewUrl = form.getAttribute("data-preview-url");
  var save = document.getElementById("tpl-save");
  var test = document.getElementById("tpl-test");
  var refresh = document.getElementById("tpl-refresh");
  var variant = document.getElementById("tpl-variant");
  var subjectPane = document.getElementById("tpl-preview-subject");
  var textPane = document.getElementById("tpl-preview-text");
  var textRule = document.getElementById("tpl-text-rule"); // which text part applies, as one types
  var summary = document.getElementById("tpl-problems");
  var summaryCount = document.getElementById("tpl-problems-count");
  var busy = document.getElementById("tpl-busy");
  var busyText = busy.textContent; // the page's words, in the admin's language
  var fields = { subject: "tpl-subject", body: "tpl-mjml", text: "tpl-text" };
  var timer = null;
  var sequence = 0;
  var dirty = false;

  function draft() {
    var data = new URLSearchParams();
    ["csrf", "subject", "mjml", "text"].forEach(function (name) {
      data.append(name, form.elements[name].value);
    });
    data.append("variant", variant.value);
    return data;
  }

  function showProblems(errors, count) {
    Object.keys(fields).forEach(function (part) {
      var list = document.getElementById("tpl-" + part + "-errors");
      if (!list) return;
      while (list.firstChild) list.removeChild(list.firstChild);
      errors.filter(function (e) { return e.part === part; }).forEach(function (error) {
        var item = document.createElement("li");
        item.setAttribute("data-line", error.line || "");
        item.textContent = error.shown; // in the admin's language, "Line 3: …"
        list.appendChild(item);
      });
    });
    summary.hidden = errors.length === 0;
    if (count) summaryCount.textContent = count; // "2 problems", plural by the admin's language
    save.disabled = errors.length > 0;
    test.disabled = errors.length > 0;
  }

  function update() {
    var mine = ++sequence;
    busy.hidden = false;
    busy.textContent = busyText;
    fetch(previewUrl, {
      method: "POST",
      body: draft(),
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (result) {
        if (mine !== sequence) return; // a newer draft is on its way
        showProblems(result.errors, result.summary);
        if (result.ok) {
          subjectPane.textContent = result.subject;
          textPane.textContent = result.text;
          if (textRule) textRule.textContent = textRule.getAttribute(result.text_from_html ? "data-from-html" : "data-own");
          form.requestSubmit(refresh); // into the iframe (formaction/formtarget of that button)
        }
      })
      .then(function () {
        if (mine === sequence) busy.hidden = true;
      }, function (error) {
        // The preview is a help, not a gate: saving still works (and the server validates).
        if (mine === sequence) busy.textContent = busy.getAttribute("data-failed") + " (" + (error.message || error) + ")";
      });
  }

  function soon() {
    dirty = true;
    clearTimeout(timer);
    timer = setTimeout(update, DELAY_MS);
  }

  ["tpl-subject", "tpl-mjml", "tpl-text"].forEach(function (id) {
    document.getElementById(id).addEventListener("input", soon);
  });
  variant.addEventListener("change", function () { clearTimeout(timer); update(); });

  // A problem with a line number selects that line in its field when clicked.
  Object.keys(fields).forEach(function (part) {
    var list = document.getElementById("tpl-" + part + "-errors");
    if (!list) return;
    list.addEventListener("click", function (event) {
      var line = parseInt(event.target.getAttribute("data-line"), 10);
      var field = document.getElementById(fields[part]);
      if (!line || !field.setSelectionRange) return;
      var lines = field.value.split("\n");
      var start = lines.slice(0, line - 1).join("\n").length + (line > 1 ? 1 : 0);
      field.focus();
      field.setSelectionRange(start, start + (lines[line - 1] || "").length);
    });
  });

  form.addEventListener("submit", function (event) {
    if (event.submitter !== refresh) dirty = false; // saving or sending a test leaves the page
  });
  window.addEventListener("beforeunload", function (event) {
    if (dirty) {
      event.preventDefault();
      event.returnValue = "";
    }
  });

  update();
})();
