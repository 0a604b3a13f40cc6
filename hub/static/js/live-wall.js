// Video wall: reads one multipart stream carrying the frames of every tile's camera and
// shows each JPEG part in the <img> whose data-camera-id matches the part's X-Camera-Id.
// One stream instead of one MJPEG <img> per camera, because browsers open at most six
// HTTP/1.1 connections per host.
(function () {
  "use strict";
  var wall = document.querySelector("[data-live-wall]");
  if (!wall) {
    return;
  }
  var images = {};
  wall.querySelectorAll("img[data-camera-id]").forEach(function (img) {
    images[img.getAttribute("data-camera-id")] = img;
  });
  var HEADER_END = [13, 10, 13, 10];
  var decoder = new TextDecoder("ascii");

  function indexOf(bytes, pattern, from) {
    for (var i = from; i <= bytes.length - pattern.length; i++) {
      var match = true;
      for (var j = 0; j < pattern.length; j++) {
        if (bytes[i + j] !== pattern[j]) {
          match = false;
          break;
        }
      }
      if (match) {
        return i;
      }
    }
    return -1;
  }

  function concat(a, b) {
    var joined = new Uint8Array(a.length + b.length);
    joined.set(a, 0);
    joined.set(b, a.length);
    return joined;
  }

  function parseHeaders(text) {
    var headers = {};
    text.split("\r\n").forEach(function (line) {
      var colon = line.indexOf(":");
      if (colon > 0) {
        headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
    });
    return headers;
  }

  function show(cameraId, body) {
    var img = images[cameraId];
    if (!img) {
      return;
    }
    var url = URL.createObjectURL(new Blob([body], { type: "image/jpeg" }));
    var previous = img.getAttribute("data-blob-url");
    img.onload = function () {
      if (previous) {
        URL.revokeObjectURL(previous);
      }
    };
    img.setAttribute("data-blob-url", url);
    img.src = url;
  }

  // Take every complete part off the front of the buffer; return what is left.
  function consume(buffer) {
    for (;;) {
      var headerEnd = indexOf(buffer, HEADER_END, 0);
      if (headerEnd < 0) {
        return buffer;
      }
      var headers = parseHeaders(decoder.decode(buffer.subarray(0, headerEnd)));
      var length = parseInt(headers["content-length"], 10);
      if (isNaN(length)) {
        return new Uint8Array(0);
      }
      var bodyStart = headerEnd + 4;
      if (buffer.length < bodyStart + length + 2) {
        return buffer;
      }
      show(headers["x-camera-id"], buffer.slice(bodyStart, bodyStart + length));
      buffer = buffer.subarray(bodyStart + length + 2);
    }
  }

  function run() {
    fetch(wall.getAttribute("data-stream-url"), { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok || !response.body) {
          throw new Error("live wall stream failed: " + response.status);
        }
        var reader = response.body.getReader();
        var buffer = new Uint8Array(0);
        function pump() {
          return reader.read().then(function (chunk) {
            if (chunk.done) {
              throw new Error("live wall stream ended");
            }
            buffer = consume(concat(buffer, chunk.value));
            return pump();
          });
        }
        return pump();
      })
      .catch(function () {
        // Reconnect after a pause: the hub restarted or the network dropped.
        window.setTimeout(run, 3000);
      });
  }

  run();
})();
