// Operator map of Lapor Yai: one marker per report, coloured red when overdue.
(function () {
  "use strict";
  var node = document.getElementById("map");
  if (!node || !window.L) { return; }
  var map = window.L.map(node).setView([parseFloat(node.dataset.centerLat), parseFloat(node.dataset.centerLon)], 13);
  if (node.dataset.tileUrl) { window.L.tileLayer(node.dataset.tileUrl, { maxZoom: 19 }).addTo(map); }
  fetch("/lapor/batas-kota.geojson").then(function (r) { return r.json(); }).then(function (shape) {
    window.L.geoJSON(shape, { style: { color: "#0b5394", weight: 2, fillOpacity: 0.03 } }).addTo(map);
  }).catch(function () { /* the markers still show without the outline */ });
  window.metro.request("GET", "/api/v1/complaints?limit=500").then(function (data) {
    data.items.forEach(function (item) {
      var marker = window.L.circleMarker([item.lat, item.lon], {
        radius: 8, color: item.overdue ? "#b3261e" : "#0b5394", fillOpacity: 0.7
      }).addTo(map);
      var link = window.metro.el("a", { href: "/operator/laporan/" + item.id, text: "#" + item.id + " " + item.category_name });
      var popup = window.metro.el("div", {}, [link, window.metro.el("div", { text: item.status_label }), window.metro.el("div", { text: item.summary })]);
      marker.bindPopup(popup);
    });
  });
})();
