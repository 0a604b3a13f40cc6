// Live dashboard: listens to /api/v1/stream and updates the camera grid and event feed.
// Every device-supplied string goes into textContent, never into HTML.
(function () {
  "use strict";
  var texts = JSON.parse(document.getElementById("page-texts").textContent);
  var feed = document.getElementById("event-feed");
  var errorBox = document.getElementById("feed-error");
  var indicator = document.getElementById("live-indicator");
  var el = window.metro.el;
  var MAX_ITEMS = 50;

  function tile(cameraId) {
    var tiles = document.querySelectorAll("#camera-grid [data-camera-id]");
    for (var i = 0; i < tiles.length; i++) {
      if (tiles[i].dataset.cameraId === cameraId) { return tiles[i]; }
    }
    return null;
  }

  function cameraName(cameraId) {
    var node = tile(cameraId);
    return node ? node.dataset.cameraName : cameraId;
  }

  // HH:MM:SS in WIB, the same as the server's wib("%H:%M:%S") filter. WIB is a fixed
  // UTC+7 without daylight saving, and the locale formats differ ("05.09.17" in id-ID).
  var WIB_OFFSET_MS = 7 * 3600 * 1000;
  function pad(number) { return (number < 10 ? "0" : "") + number; }
  function timeOf(iso) {
    var ms = Date.parse(iso);
    if (isNaN(ms)) { return ""; }
    var wib = new Date(ms + WIB_OFFSET_MS);
    return pad(wib.getUTCHours()) + ":" + pad(wib.getUTCMinutes()) + ":" + pad(wib.getUTCSeconds());
  }

  function setState(cameraId, state) {
    var node = tile(cameraId);
    if (!node) { return; }
    var badge = node.querySelector('[data-role="state"]');
    badge.className = "badge " + state;
    badge.textContent = texts["state." + state] || state;
  }

  function setSeen(cameraId) {
    var node = tile(cameraId);
    if (node) { node.querySelector('[data-role="seen"]').textContent = timeOf(new Date().toISOString()); }
  }

  function setSnapshot(cameraId, sha256) {
    var node = tile(cameraId);
    if (!node || !sha256) { return; }
    var thumb = node.querySelector(".thumb");
    var img = thumb.querySelector("img");
    if (!img) {
      thumb.textContent = "";
      img = el("img", { alt: cameraName(cameraId), loading: "lazy" });
      thumb.appendChild(img);
    }
    img.src = "/media/" + encodeURIComponent(sha256);
  }

  // Newest first by start time, then by id descending: the order of the server-rendered feed.
  function isBefore(startMs, id, row) {
    var rowMs = Date.parse(row.dataset.startTs);
    if (isNaN(rowMs) || startMs !== rowMs) { return isNaN(rowMs) || startMs > rowMs; }
    return id > row.dataset.eventId;
  }

  function addEvent(data) {
    var empty = document.getElementById("feed-empty");
    if (empty) { empty.remove(); }
    var existing = feed.querySelector('[data-event-id="' + CSS.escape(data.id) + '"]');
    var stateText = texts["event.state." + data.state] || data.state;
    var link = el("a", { href: "/events/" + encodeURIComponent(data.id),
      text: timeOf(data.start_ts) + " · " + cameraName(data.camera_id) + " · " + (texts["object." + data.label] || data.label) });
    var item = el("li", { "data-event-id": data.id, "data-start-ts": data.start_ts, className: "fresh" },
      [link, document.createTextNode(" "), el("span", { className: "muted", text: "(" + stateText + ")" })]);
    if (existing) { existing.remove(); }
    var startMs = Date.parse(data.start_ts);
    var next = null;
    for (var i = 0; i < feed.children.length; i++) {
      if (isBefore(startMs, data.id, feed.children[i])) { next = feed.children[i]; break; }
    }
    if (next === null && feed.children.length >= MAX_ITEMS) { return; }
    feed.insertBefore(item, next);
    while (feed.children.length > MAX_ITEMS) { feed.removeChild(feed.lastChild); }
    setTimeout(function () { item.classList.remove("fresh"); }, 4000);
  }

  function connect() {
    var source = new EventSource("/api/v1/stream");
    source.onopen = function () { errorBox.hidden = true; indicator.classList.add("online"); };
    source.onerror = function () {
      indicator.classList.remove("online");
      errorBox.textContent = texts["dash.connection_lost"];
      errorBox.hidden = false;
    };
    source.addEventListener("event", function (message) {
      var data = JSON.parse(message.data);
      addEvent(data);
      setSeen(data.camera_id);
      if (data.snapshot_sha256) { setSnapshot(data.camera_id, data.snapshot_sha256); }
    });
    source.addEventListener("status", function (message) {
      var data = JSON.parse(message.data);
      setState(data.camera_id, data.state);
    });
    source.addEventListener("stats", function (message) {
      var data = JSON.parse(message.data);
      setState(data.camera_id, "online");
      setSeen(data.camera_id);
      var node = tile(data.camera_id);
      if (node && typeof data.fps === "number") { node.querySelector('[data-role="fps"]').textContent = data.fps.toFixed(1) + " fps"; }
    });
    source.addEventListener("media", function (message) {
      var data = JSON.parse(message.data);
      if (data.kind === "snapshot") { setSnapshot(data.camera_id, data.sha256); }
    });
  }

  connect();
})();
