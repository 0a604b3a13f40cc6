// Citizen report form of Lapor Yai: map picking, phone position, duplicate hints,
// photo shrinking in the browser and an idempotent submit. Loaded as a file because
// the CSP forbids inline scripts.
(function () {
  "use strict";
  var form = document.getElementById("report-form");
  if (!form) { return; }
  var texts = JSON.parse(document.getElementById("page-texts").textContent);
  var latInput = document.getElementById("lat");
  var lonInput = document.getElementById("lon");
  var note = document.getElementById("location-note");
  var errorBox = document.getElementById("form-error");
  var photosInput = document.getElementById("photos");
  var maxPhotos = parseInt(form.dataset.maxPhotos, 10) || 3;
  var MAX_SIDE = 2048;
  var marker = null;
  var map = null;

  function setLocation(lat, lon, moveMap) {
    latInput.value = lat.toFixed(6);
    lonInput.value = lon.toFixed(6);
    if (map) {
      // A vector marker: the default Leaflet pin needs image files that are not vendored.
      if (marker) { marker.setLatLng([lat, lon]); } else {
        marker = window.L.circleMarker([lat, lon], {
          radius: 10, weight: 3, color: "#ffffff", fillColor: "#b3261e", fillOpacity: 1, interactive: false,
        }).addTo(map);
      }
      if (moveMap) { map.setView([lat, lon], 17); }
    }
    loadNearby();
  }

  if (window.L) {
    var center = [parseFloat(form.dataset.centerLat), parseFloat(form.dataset.centerLon)];
    map = window.L.map("pick-map").setView(center, 13);
    if (form.dataset.tileUrl) { window.L.tileLayer(form.dataset.tileUrl, { maxZoom: 19 }).addTo(map); }
    var boundary = null;
    window.metro.boundary.show(map).then(function (shown) { boundary = shown.shape; })
      .catch(function () { /* without the outline every tap is accepted and the server checks the point */ });
    map.on("click", function (event) {
      var lat = event.latlng.lat, lon = event.latlng.lng;
      if (boundary && !window.metro.boundary.contains(boundary, lat, lon)) {
        note.textContent = texts.outside_city;
        return;
      }
      note.textContent = "";
      setLocation(lat, lon, false);
    });
  }

  document.getElementById("use-position").addEventListener("click", function () {
    if (!navigator.geolocation) { return; }
    navigator.geolocation.getCurrentPosition(function (position) {
      setLocation(position.coords.latitude, position.coords.longitude, true);
    }, function (error) { note.textContent = error.message; }, { enableHighAccuracy: true, timeout: 15000 });
  });
  [latInput, lonInput].forEach(function (input) { input.addEventListener("change", loadNearby); });
  document.getElementById("category").addEventListener("change", loadNearby);

  // Open reports of the same category nearby, so the citizen can see it is already known.
  function loadNearby() {
    var box = document.getElementById("nearby");
    var lat = parseFloat(latInput.value);
    var lon = parseFloat(lonInput.value);
    if (!isFinite(lat) || !isFinite(lon)) { box.hidden = true; return; }
    var url = "/api/v1/complaints/nearby?category=" + encodeURIComponent(form.category.value) + "&lat=" + lat + "&lon=" + lon;
    window.metro.request("GET", url).then(function (data) {
      box.textContent = "";
      if (!data.items.length) { box.hidden = true; return; }
      box.appendChild(window.metro.el("p", { text: texts.nearby }));
      var list = window.metro.el("ul");
      data.items.forEach(function (item) {
        list.appendChild(window.metro.el("li", { text: item.status_label + " · " + item.distance_m + " m · " + item.summary }));
      });
      box.appendChild(list);
      box.hidden = false;
    }).catch(function () { box.hidden = true; });
  }

  // Pre-fill the location from a photo's EXIF GPS (read by the server, never stored).
  function locationFromPhoto(file) {
    if (latInput.value && lonInput.value) { return; }
    var data = new FormData();
    data.append("photo", file, file.name);
    fetch("/api/v1/complaints/photo-location", {
      method: "POST", body: data, credentials: "same-origin", headers: { "X-CSRF-Token": window.metro.csrfToken }
    }).then(function (r) { return r.json(); }).then(function (gps) {
      if (gps.lat !== null && gps.inside_city && !latInput.value) {
        setLocation(gps.lat, gps.lon, true);
        note.textContent = texts.gps_found;
      }
    }).catch(function () { /* no position in the photo */ });
  }

  // Shrink a photo to at most 2048 px with a canvas; a file the browser cannot decode
  // (HEIC on most desktop browsers) is sent as it is and the server converts it.
  function shrink(file) {
    return new Promise(function (resolve) {
      var url = URL.createObjectURL(file);
      var image = new Image();
      image.onload = function () {
        URL.revokeObjectURL(url);
        var scale = Math.min(1, MAX_SIDE / Math.max(image.naturalWidth, image.naturalHeight));
        if (scale === 1 && file.size < 1500000) { resolve(file); return; }
        var canvas = document.createElement("canvas");
        canvas.width = Math.round(image.naturalWidth * scale);
        canvas.height = Math.round(image.naturalHeight * scale);
        canvas.getContext("2d").drawImage(image, 0, 0, canvas.width, canvas.height);
        canvas.toBlob(function (blob) { resolve(blob ? new File([blob], "foto.jpg", { type: "image/jpeg" }) : file); }, "image/jpeg", 0.85);
      };
      image.onerror = function () { URL.revokeObjectURL(url); resolve(file); };
      image.src = url;
    });
  }

  photosInput.addEventListener("change", function () {
    if (photosInput.files.length) { locationFromPhoto(photosInput.files[0]); }
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    errorBox.textContent = "";
    var button = document.getElementById("submit-report");
    var files = Array.prototype.slice.call(photosInput.files, 0, maxPhotos);
    button.disabled = true;
    button.textContent = texts.sending;
    Promise.all(files.map(shrink)).then(function (shrunk) {
      var data = new FormData(form);
      data.delete("photos");
      data.delete("csrf_token");
      shrunk.forEach(function (file) { data.append("photos", file, file.name); });
      return fetch("/api/v1/complaints", {
        method: "POST", body: data, credentials: "same-origin",
        headers: { "X-CSRF-Token": window.metro.csrfToken, "Idempotency-Key": form.idempotency_key.value, Accept: "application/json" }
      });
    }).then(function (response) {
      return response.json().then(function (body) {
        if (!response.ok) { throw new Error(body.error ? body.error.message : response.statusText); }
        return body;
      });
    }).then(function (body) {
      form.hidden = true;
      document.getElementById("tracking-code").textContent = body.tracking_code;
      document.getElementById("status-link").href = "/lapor/status?code=" + encodeURIComponent(body.tracking_code);
      document.getElementById("report-done").hidden = false;
    }).catch(function (error) {
      errorBox.textContent = error.message;
      button.disabled = false;
      button.textContent = form.querySelector("button[type=submit]").dataset.label || button.textContent;
    });
  });
  var submitButton = document.getElementById("submit-report");
  submitButton.dataset.label = submitButton.textContent;
})();
