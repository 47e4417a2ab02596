// segeval HTML report: sortable tables and the heat-map normalisation switch.
// Inlined into every report by segeval/render/html_page.py; loads nothing.
(function () {
  "use strict";
  var SEQ = JSON.parse(document.getElementById("segeval-scales").textContent).sequential;
  var DIV = JSON.parse(document.getElementById("segeval-scales").textContent).diverging;

  function hex(rgb) {
    return "#" + rgb.map(function (v) {
      return ("0" + Math.round(v).toString(16)).slice(-2);
    }).join("");
  }

  // Same interpolation as segeval.palettes._interpolate.
  function interpolate(stops, t) {
    t = Math.min(1, Math.max(0, t)) * (stops.length - 1);
    var low = Math.min(Math.floor(t), stops.length - 2), f = t - low;
    return hex([0, 1, 2].map(function (k) {
      return stops[low][k] + (stops[low + 1][k] - stops[low][k]) * f;
    }));
  }

  // Black or white text, as segeval.palettes.readable_text.
  function textColor(fill) {
    var c = [1, 3, 5].map(function (i) {
      var v = parseInt(fill.substr(i, 2), 16) / 255;
      return v <= 0.04045 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2] > 0.179 ? "#000000" : "#ffffff";
  }

  function compact(v) {
    var a = Math.abs(v), s = v < 0 ? "-" : "";
    if (a >= 1e9) return s + (a / 1e9).toFixed(1) + "G";
    if (a >= 1e6) return s + (a / 1e6).toFixed(1) + "M";
    if (a >= 1e4) return s + (a / 1e3).toFixed(0) + "k";
    return s + a.toFixed(0);
  }

  // Same as segeval.render.html_page.shares: rows include the missed pixels.
  function shares(matrix, mode) {
    var n = matrix.counts.length, out = [], i, j, k;
    for (i = 0; i < n; i++) {
      out.push([]);
      for (j = 0; j < n; j++) {
        var v = matrix.counts[i][j], total = 0;
        if (mode === "counts") { out[i].push(v); continue; }
        if (mode === "rows") {
          total = matrix.missed[i];
          for (k = 0; k < n; k++) total += matrix.counts[i][k];
        } else {
          for (k = 0; k < n; k++) total += matrix.counts[k][j];
        }
        out[i].push(total > 0 ? v / total : NaN);
      }
    }
    return out;
  }

  function recolour(figure, mode) {
    var data = JSON.parse(figure.querySelector("script.cm-data").textContent);
    var n = data.names.length, values, kind, i, j;
    if (data.kind === "diff") {
      var before = shares(data.matrices[0], mode), after = shares(data.matrices[1], mode);
      values = [];
      for (i = 0; i < n; i++) {
        values.push([]);
        for (j = 0; j < n; j++) values[i].push(after[i][j] - before[i][j]);
      }
      kind = "diff";
    } else {
      values = shares(data.matrices[0], mode);
      kind = mode === "counts" ? "counts" : "share";
    }
    var scale = 0;
    for (i = 0; i < n; i++) {
      for (j = 0; j < n; j++) {
        var value = values[i][j];
        if (!isNaN(value)) scale = Math.max(scale, kind === "diff" ? Math.abs(value) : value);
      }
    }
    figure.querySelectorAll("rect.cm-cell").forEach(function (rect) {
      var v = values[+rect.dataset.row][+rect.dataset.col], fill;
      if (isNaN(v)) fill = "url(#hatch)";
      else if (kind === "diff") fill = interpolate(DIV, ((scale > 0 ? v / scale : 0) + 1) / 2);
      else if (kind === "counts") fill = interpolate(SEQ, scale > 0 ? Math.log1p(v) / Math.log1p(scale) : 0);
      else fill = interpolate(SEQ, v);
      rect.setAttribute("fill", fill);
    });
    figure.querySelectorAll("text.cm-label").forEach(function (label) {
      var v = values[+label.dataset.row][+label.dataset.col], text;
      if (isNaN(v)) text = "n/a";
      else if (mode === "counts") text = (kind === "diff" && v > 0 ? "+" : "") + compact(v);
      else text = kind === "diff" ? (v >= 0 ? "+" : "") + v.toFixed(2) : v.toFixed(2);
      label.textContent = text;
      var rect = figure.querySelector('rect.cm-cell[data-row="' + label.dataset.row +
        '"][data-col="' + label.dataset.col + '"]');
      var fill = rect.getAttribute("fill");
      label.setAttribute("fill", fill.charAt(0) === "#" ? textColor(fill) : "#000000");
    });
    // Large matrices are pictures, one per normalisation: show the chosen one.
    figure.querySelectorAll("image.cm-raster").forEach(function (image) {
      image.style.display = image.dataset.mode === mode ? "" : "none";
    });
    var low = figure.querySelector(".legend-low"), high = figure.querySelector(".legend-high");
    var what = figure.querySelector(".legend-what");
    if (kind === "diff") {
      low.textContent = mode === "counts" ? compact(-scale) : "-" + scale.toFixed(2);
      high.textContent = "+" + (mode === "counts" ? compact(scale) : scale.toFixed(2));
    } else if (kind === "counts") {
      low.textContent = "0";
      high.textContent = compact(scale);
      what.textContent = "pixels (logarithmic colour scale)";
    } else {
      low.textContent = "0";
      high.textContent = "1";
      what.textContent = mode === "rows" ? "share of the ground-truth row" : "share of the predicted column";
    }
    figure.dataset.mode = mode;
  }

  // Tooltips of large (raster) heat maps: the cell under the pointer, with its numbers.
  function share(part, whole) {
    return whole > 0 ? (100 * part / whole).toFixed(2) + "%" : "undefined";
  }
  document.querySelectorAll("svg.heatmap[data-raster]").forEach(function (svg) {
    var figure = svg.closest("figure"), data = null;
    var tip = document.createElement("div");
    tip.className = "cm-tip";
    tip.hidden = true;
    document.body.appendChild(tip);
    svg.addEventListener("mousemove", function (event) {
      var image = svg.querySelector('image.cm-raster:not([style*="none"])');
      if (!image) return;
      data = data || JSON.parse(figure.querySelector("script.cm-data").textContent);
      var box = image.getBoundingClientRect(), n = data.names.length;
      var column = Math.floor((event.clientX - box.left) / box.width * n);
      var row = Math.floor((event.clientY - box.top) / box.height * n);
      if (row < 0 || column < 0 || row >= n || column >= n) { tip.hidden = true; return; }
      var labels = data.matrices.length === 1 ? [""] : ["baseline ", "candidate "];
      var parts = data.matrices.map(function (m, k) {
        var count = m.counts[row][column], rowTotal = m.missed[row], columnTotal = 0;
        for (var i = 0; i < n; i++) { rowTotal += m.counts[row][i]; columnTotal += m.counts[i][column]; }
        return labels[k] + count.toLocaleString("en-US") + " px, " + share(count, rowTotal) +
          " of ground-truth " + data.names[row] + ", " + share(count, columnTotal) +
          " of predicted " + data.names[column];
      });
      tip.textContent = "ground truth " + data.names[row] + " → predicted " + data.names[column] +
        ": " + parts.join("; ");
      tip.style.left = (event.pageX + 12) + "px";
      tip.style.top = (event.pageY + 12) + "px";
      tip.hidden = false;
    });
    svg.addEventListener("mouseleave", function () { tip.hidden = true; });
  });

  document.querySelectorAll("input[name=cm-mode]").forEach(function (input) {
    input.addEventListener("change", function () {
      document.querySelectorAll("figure.heatmap-figure").forEach(function (figure) {
        recolour(figure, input.value);
      });
    });
  });

  // Sortable tables: numbers start descending, text ascending; undefined always last.
  document.querySelectorAll("table.sortable").forEach(function (table) {
    table.querySelectorAll("th").forEach(function (th, column) {
      var button = th.querySelector("button");
      if (!button) return;
      button.addEventListener("click", function () {
        var current = th.getAttribute("aria-sort");
        var ascending = current === "none" ? th.dataset.type !== "num" : current !== "ascending";
        table.querySelectorAll("th").forEach(function (other) {
          other.setAttribute("aria-sort", "none");
        });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = a.cells[column].dataset.sort, y = b.cells[column].dataset.sort;
          if (x === "" && y === "") return 0;
          if (x === "") return 1;
          if (y === "") return -1;
          var order = th.dataset.type === "num" ? parseFloat(x) - parseFloat(y) : x.localeCompare(y);
          return ascending ? order : -order;
        });
        rows.forEach(function (row) { body.appendChild(row); });
      });
    });
  });

  document.documentElement.dataset.ready = "1";
})();
