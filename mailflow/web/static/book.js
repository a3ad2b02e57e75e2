// Progressive enhancement: preselect the visitor's time zone when it is in the list.
(function () {
  var select = document.querySelector("select[data-guess]");
  if (!select || !window.Intl) return;
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  for (var i = 0; i < select.options.length; i++) {
    if (select.options[i].value === zone && !select.dataset.touched) { select.value = zone; break; }
  }
})();
