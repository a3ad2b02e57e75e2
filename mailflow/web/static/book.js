// Progressive enhancement: preselect the visitor's own time zone (added to the list when missing).
(function () {
  var select = document.querySelector("select[data-guess]");
  if (!select || !window.Intl || select.dataset.chosen) return;
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (!zone) return;
  for (var i = 0; i < select.options.length; i++) {
    if (select.options[i].value === zone) { select.value = zone; return; }
  }
  var option = document.createElement("option");
  option.value = zone;
  option.textContent = zone;
  select.insertBefore(option, select.firstChild);
  select.value = zone;
})();
