// Shared browser helpers of the hub pages. No inline scripts are allowed by the CSP,
// so pages load their behaviour from files under /static/js/.
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="csrf-token"]');
  var csrfToken = meta ? meta.getAttribute("content") : "";

  // fetch() that sends the CSRF header on state-changing requests and parses JSON.
  function request(method, url, body) {
    var options = { method: method, headers: { Accept: "application/json" }, credentials: "same-origin" };
    if (method !== "GET" && method !== "HEAD") {
      options.headers["X-CSRF-Token"] = csrfToken;
    }
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(url, options).then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok) {
          var message = data && data.error ? data.error.message : response.statusText;
          throw new Error(message);
        }
        return data;
      });
    });
  }

  // Build an element with text content only: device-supplied strings never become HTML.
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === "text") { node.textContent = attrs[key]; }
      else if (key === "className") { node.className = attrs[key]; }
      else { node.setAttribute(key, attrs[key]); }
    });
    (children || []).forEach(function (child) { if (child) { node.appendChild(child); } });
    return node;
  }

  window.metro = { csrfToken: csrfToken, request: request, el: el, lang: document.body.dataset.lang || "id" };
})();
