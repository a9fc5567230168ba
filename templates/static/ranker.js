/* ranker: draws the charts and runs the ranking table. Makes no request outside the site. */
(function () {
  "use strict";

  var ESC = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
  function esc(s) { return String(s).replace(/[&<>"']/g, function (c) { return ESC[c]; }); }
  function readJSON(id) {
    var el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }
  function missing(v) { return v === null || v === undefined; }
  function pct(v) { return missing(v) ? "–" : (100 * v).toFixed(2); }
  function signed(v) { return missing(v) ? "–" : (v >= 0 ? "+" : "") + (100 * v).toFixed(2); }

  function drawCharts() {
    if (!window.Plotly) { return; }
    var boxes = document.querySelectorAll("[data-figure]");
    Array.prototype.forEach.call(boxes, function (el) {
      var fig = readJSON(el.getAttribute("data-figure"));
      if (fig) {
        window.Plotly.newPlot(el, fig.data, fig.layout, { displaylogo: false, responsive: true });
      }
    });
  }

  // -- the ranking table ---------------------------------------------------------------------
  // Sort keys put missing values last: ranks ascend, scores descend.
  function rankCell(d, type) {
    if (type === "sort" || type === "type") { return missing(d) ? 1e12 : d; }
    return missing(d) ? "–" : String(d);
  }
  function scoreCell(lowKey, highKey, fmt) {
    return function (d, type, row) {
      if (type === "sort" || type === "type") { return missing(d) ? -1e12 : d; }
      if (missing(d)) { return "–"; }
      var text = fmt(d);
      if (lowKey && !missing(row[lowKey]) && !missing(row[highKey])) {
        text += ' <span class="ci">[' + fmt(row[lowKey]) + ", " + fmt(row[highKey]) + "]</span>";
      }
      return text;
    };
  }
  function countCell(d, type) {
    if (type === "sort" || type === "type") { return missing(d) ? -1 : d; }
    return missing(d) ? "–" : Number(d).toLocaleString("en");
  }
  function paramsCell(d, type) {
    if (type === "sort" || type === "type") { return missing(d) ? -1 : d; }
    return missing(d) ? "–" : Math.round(d / 1e6) + "M";
  }
  function textCell(d, type) {
    if (type === "sort" || type === "type") { return missing(d) ? "" : String(d); }
    return missing(d) ? "–" : esc(d);
  }

  function initTable(config) {
    var root = config.root;
    var columns = [
      { data: "probe_rank", render: rankCell, className: "num" },
      {
        data: "model_id", render: function (d, type, row) {
          if (type !== "display") { return d; }
          return '<a href="' + esc(root + row.page) + '">' + esc(d) + "</a> " +
            '<a class="hub" href="https://huggingface.co/' + esc(d) + '" aria-label="' + esc(d) +
            ' on the Hugging Face hub">hub</a>';
        }
      },
      { data: "probe_accuracy", render: scoreCell("probe_low", "probe_high", pct), className: "num" },
      { data: "probe_gain", render: scoreCell("probe_gain_low", "probe_gain_high", signed), className: "num" },
      { data: "rank", render: rankCell, className: "num" },
      { data: "avg", render: scoreCell(null, null, pct), className: "num" },
      { data: "gain", render: scoreCell(null, null, signed), className: "num" },
      { data: "downloads", render: countCell, className: "num" },
      { data: "likes", render: countCell, className: "num" },
      { data: "params", render: paramsCell, className: "num" },
      { data: "license", render: textCell },
      { data: "last_modified", render: textCell },
      { data: "probe_revision", render: textCell }
    ];
    var names = columns.map(function (c) { return c.data; });
    var form = document.getElementById("controls");
    var fields = ["q", "size", "license", "since", "legacy"];
    function control(name) { return form.elements.namedItem(name); }

    function readState() {
      var params = new URLSearchParams(window.location.hash.replace(/^#/, ""));
      fields.forEach(function (f) {
        var el = control(f);
        var v = params.get(f) || "";
        if (el.type === "checkbox") { el.checked = v === "1"; } else { el.value = v; }
      });
      var col = names.indexOf(params.get("sort"));
      var dir = params.get("dir") === "asc" ? "asc" : "desc";
      if (col < 0) { col = names.indexOf(config.default_sort); dir = config.default_dir; }
      return [[col, dir]];
    }
    function writeState(table) {
      var params = new URLSearchParams();
      fields.forEach(function (f) {
        var el = control(f);
        var v = el.type === "checkbox" ? (el.checked ? "1" : "") : el.value;
        if (v) { params.set(f, v); }
      });
      var order = table.order()[0];
      if (order) { params.set("sort", names[order[0]]); params.set("dir", order[1]); }
      var hash = params.toString();
      window.history.replaceState(null, "", hash ? "#" + hash : window.location.pathname);
    }

    window.DataTable.ext.search.push(function (settings, searchData, index, row) {
      var node = settings.nTable || settings.table;  // DataTables 2 and 3 name it differently
      if (!node || node.id !== "ranking") { return true; }
      var size = control("size").value;
      if (size) {
        var bounds = size.split("-");
        var millions = missing(row.params) ? null : row.params / 1e6;
        if (millions === null) { return false; }
        if (bounds[0] && millions < Number(bounds[0])) { return false; }
        if (bounds[1] && millions >= Number(bounds[1])) { return false; }
      }
      var license = control("license").value;
      if (license && row.license !== license) { return false; }
      var since = control("since").value;
      if (since && (missing(row.evaluated_at) || row.evaluated_at < since)) { return false; }
      if (control("legacy").checked && missing(row.avg) && missing(row.mnli_lp)) { return false; }
      return true;
    });

    var order = readState();
    var table = new window.DataTable("#ranking", {
      data: config.rows,
      columns: columns,
      order: order,
      deferRender: true,
      pageLength: 50,
      lengthMenu: [25, 50, 100, 500, { label: "All", value: -1 }],
      search: { search: control("q").value },
      layout: { topStart: "pageLength", topEnd: null, bottomStart: "info", bottomEnd: "paging" },
      autoWidth: false
    });
    var status = document.getElementById("table-status");
    table.on("draw", function () {
      var info = table.page.info();
      status.textContent = info.recordsDisplay + " of " + info.recordsTotal + " models shown.";
      writeState(table);
    });
    function redraw() { table.search(control("q").value).draw(); }
    form.addEventListener("input", redraw);
    form.addEventListener("change", redraw);
    window.addEventListener("hashchange", function () {
      table.order(readState());
      redraw();
    });
    table.draw();
    document.documentElement.setAttribute("data-table-ready", "1");
  }

  function main() {
    drawCharts();
    var config = readJSON("table-data");
    if (config && window.DataTable) { initTable(config); }
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", main);
  } else {
    main();
  }
}());
