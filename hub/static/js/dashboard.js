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

  function timeOf(iso) {
    var date = new Date(iso);
    return isNaN(date) ? "" : date.toLocaleTimeString(window.metro.lang === "en" ? "en-GB" : "id-ID", { timeZone: "Asia/Jakarta" });
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

  function addEvent(data) {
    var empty = document.getElementById("feed-empty");
    if (empty) { empty.remove(); }
    var existing = feed.querySelector('[data-event-id="' + CSS.escape(data.id) + '"]');
    var kindText = texts["event.kind." + data.kind] || data.kind;
    var link = el("a", { href: "/events/" + encodeURIComponent(data.id),
      text: timeOf(data.start_ts) + " · " + cameraName(data.camera_id) + " · " + (texts["object." + data.label] || data.label) });
    var item = el("li", { "data-event-id": data.id, className: "fresh" },
      [link, document.createTextNode(" "), el("span", { className: "muted", text: "(" + kindText + ")" })]);
    if (existing) { existing.remove(); }
    feed.insertBefore(item, feed.firstChild);
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
