// Progressive enhancement of /book/{service}: without a ``tz`` in the address, show the page in the
// visitor's own time zone (the browser's), once. Without JavaScript the page stays in the business's
// zone, and the zone control on the page changes it either way.
(function () {
  var note = document.querySelector("[data-page-zone]");
  if (!note || !window.Intl || !window.URLSearchParams) return;
  var params = new URLSearchParams(window.location.search);
  if (params.has("tz")) return;
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (!zone || zone === note.dataset.pageZone) return;
  params.set("tz", zone);
  window.location.replace(window.location.pathname + "?" + params.toString() + window.location.hash);
})();
