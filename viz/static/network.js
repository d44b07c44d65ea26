// Draws the network page's picture with vis-network (served by the app, never a CDN).
// The data sits in the page as a JSON block (not a script that runs), positions come
// from the server, and physics is off: the browser only draws. An external file, so the
// page needs no inline script under its Content-Security-Policy.
(function () {
  "use strict";
  var holder = document.getElementById("network");
  var source = document.getElementById("network-data");
  var said = document.getElementById("network-selection");
  if (!holder || !source || typeof vis === "undefined") {
    return;
  }
  var data = JSON.parse(source.textContent);
  var nodes = new vis.DataSet(data.nodes);
  var edges = new vis.DataSet(data.edges);
  var network = new vis.Network(holder, { nodes: nodes, edges: edges }, data.options);
  network.once("afterDrawing", function () {
    holder.setAttribute("data-drawn", "true");
    if (window.performance && performance.mark) {
      performance.mark("network-drawn"); // bench/bench_pages.py reads when the picture was first drawn
    }
  });
  network.on("selectNode", function (params) {
    var node = nodes.get(params.nodes[0]);
    if (said && node) {
      said.textContent = "Selected: " + String(node.title || node.label).replace(/\n/g, ", ");
    }
  });
  network.on("deselectNode", function () {
    if (said) {
      said.textContent = "";
    }
  });
  network.fit({ animation: false });
})();
