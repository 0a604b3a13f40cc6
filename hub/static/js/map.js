// Map of CCTV points. Markers are vector circles, so they show even when no tile
// server is configured or reachable (the command centre may be offline).
(function () {
  "use strict";
  var texts = JSON.parse(document.getElementById("page-texts").textContent);
  var container = document.getElementById("map");
  var el = window.metro.el;
  var colours = { online: "#1e7b34", offline: "#b3261e", stopped: "#a86400", unknown: "#5d6d7e" };
  var center = [parseFloat(container.dataset.centerLat), parseFloat(container.dataset.centerLon)];
  var map = L.map(container, { attributionControl: true }).setView(center, 14);
  var tileUrl = container.dataset.tileUrl;
  if (tileUrl) {
    L.tileLayer(tileUrl, { maxZoom: 19, attribution: container.dataset.tileAttribution || "" }).addTo(map);
  }
  var boundaryShown = window.metro.boundary.show(map).catch(function () { return null; });

  function popup(camera) {
    var state = texts["state." + camera.state] || camera.state;
    return el("div", {}, [
      el("strong", { text: camera.name }),
      el("div", { text: camera.address || "" }),
      el("div", { className: "badge " + camera.state, text: state }),
      el("div", {}, [el("a", { href: "/cameras/" + encodeURIComponent(camera.id), text: camera.id })]),
    ]);
  }

  var markers = {};
  window.metro.request("GET", "/api/v1/cameras").then(function (cameras) {
    var bounds = [];
    cameras.forEach(function (camera) {
      var marker = L.circleMarker([camera.lat, camera.lon], {
        radius: 9, weight: 2, color: "#14283c", fillColor: colours[camera.state] || colours.unknown, fillOpacity: 0.9,
      }).addTo(map);
      marker.bindPopup(popup(camera));
      // A permanent label: without tiles the name is the only way to tell the dots apart.
      marker.bindTooltip(label(camera.name, camera.state), {
        permanent: true, direction: "right", offset: [10, 0], className: "camera-label",
      });
      marker.getElement().setAttribute("data-camera-id", camera.id);
      marker.camera = camera;
      markers[camera.id] = marker;
      bounds.push([camera.lat, camera.lon]);
    });
    // Show the whole city and every camera, also cameras placed outside the boundary.
    boundaryShown.then(function (boundary) {
      var view = boundary ? boundary.layer.getBounds() : null;
      bounds.forEach(function (point) { view = view ? view.extend(point) : L.latLngBounds([point, point]); });
      if (view) { map.fitBounds(view, { padding: [30, 30], maxZoom: 16, animate: false }); }
    });
  });

  function label(name, state) {
    return el("span", {}, [
      el("span", { className: "dot " + state, "aria-hidden": "true" }),
      document.createTextNode(" " + name + " · " + (texts["state." + state] || state)),
    ]);
  }

  var source = new EventSource("/api/v1/stream");
  source.addEventListener("status", function (message) {
    var data = JSON.parse(message.data);
    var marker = markers[data.camera_id];
    if (!marker) { return; }
    marker.setStyle({ fillColor: colours[data.state] || colours.unknown });
    marker.camera.state = data.state;
    marker.setTooltipContent(label(marker.camera.name, data.state));
    marker.setPopupContent(popup(marker.camera));
  });
})();
