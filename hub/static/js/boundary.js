// City boundary of Kota Metro for the Leaflet maps. The polygon is drawn as a vector
// layer, so a map without a tile server (the normal case offline) still shows where
// the city is and has a surface to tap.
(function () {
  "use strict";
  var URL = "/lapor/batas-kota.geojson";
  var STYLE = { color: "#0b5394", weight: 2, fillColor: "#8fb3d9", fillOpacity: 0.18 };

  // Ray casting on one ring of [lon, lat] pairs; points on an edge may fall either way.
  function inRing(ring, lat, lon) {
    var inside = false;
    for (var i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      var xi = ring[i][0], yi = ring[i][1], xj = ring[j][0], yj = ring[j][1];
      if ((yi > lat) !== (yj > lat) && lon < (xj - xi) * (lat - yi) / (yj - yi) + xi) { inside = !inside; }
    }
    return inside;
  }

  // Polygons of a GeoJSON Feature, FeatureCollection or geometry, each as a list of rings.
  function polygons(shape) {
    if (!shape) { return []; }
    if (shape.type === "FeatureCollection") { return shape.features.reduce(function (all, f) { return all.concat(polygons(f)); }, []); }
    if (shape.type === "Feature") { return polygons(shape.geometry); }
    if (shape.type === "Polygon") { return [shape.coordinates]; }
    if (shape.type === "MultiPolygon") { return shape.coordinates; }
    return [];
  }

  // True when the point is inside an outer ring and outside that polygon's holes.
  function contains(shape, lat, lon) {
    return polygons(shape).some(function (rings) {
      return inRing(rings[0], lat, lon) && !rings.slice(1).some(function (hole) { return inRing(hole, lat, lon); });
    });
  }

  // Draw the boundary on `map`, fit the view to it and resolve with {shape, layer}.
  function show(map, options) {
    return fetch(URL, { credentials: "same-origin" }).then(function (response) {
      if (!response.ok) { throw new Error(URL + ": " + response.status); }
      return response.json();
    }).then(function (shape) {
      var layer = window.L.geoJSON(shape, { style: STYLE, interactive: !!(options && options.interactive) }).addTo(map);
      map.fitBounds(layer.getBounds(), { padding: [12, 12], animate: false });
      return { shape: shape, layer: layer };
    });
  }

  window.metro = window.metro || {};
  window.metro.boundary = { show: show, contains: contains };
})();
