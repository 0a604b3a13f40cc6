// Camera page: shows command results as they arrive on the live stream.
(function () {
  "use strict";
  var texts = JSON.parse(document.getElementById("page-texts").textContent);
  var list = document.getElementById("command-list");
  if (!list) { return; }
  var cameraId = list.dataset.cameraId;
  var source = new EventSource("/api/v1/stream");
  source.addEventListener("command_result", function (message) {
    var data = JSON.parse(message.data);
    if (data.camera_id !== cameraId) { return; }
    var items = list.querySelectorAll("[data-command-id]");
    for (var i = 0; i < items.length; i++) {
      if (items[i].dataset.commandId === data.command_id) {
        items[i].querySelector('[data-role="status"]').textContent = texts["camera.cmd_status." + (data.ok ? "ok" : "failed")];
        items[i].querySelector('[data-role="detail"]').textContent = data.detail ? "— " + data.detail : "";
      }
    }
  });
})();
