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
  // Every column sorts by type "ranker": missing values last whichever the direction.
  function isMissing(v) { return v === null || v === undefined || v === ""; }
  function nullsLast(sign) {
    return function (a, b) {
      var am = isMissing(a), bm = isMissing(b);
      if (am || bm) { return am === bm ? 0 : (am ? 1 : -1); }
      return sign * (a < b ? -1 : (a > b ? 1 : 0));
    };
  }

  function sortKey(d) { return missing(d) ? null : d; }
  function rankCell(tiedKey) {
    return function (d, type, row) {
      if (type !== "display") { return sortKey(d); }
      if (missing(d)) { return "–"; }
      var tied = row[tiedKey];
      if (tied > 1) {
        return '<span class="tied" title="' + tied + ' models share rank ' + d +
          ': no test separates them">' + d + "=</span>";
      }
      return String(d);
    };
  }
  function scoreCell(lowKey, highKey, fmt) {
    return function (d, type, row) {
      if (type !== "display") { return sortKey(d); }
      if (missing(d)) { return "–"; }
      var text = fmt(d);
      if (lowKey && !missing(row[lowKey]) && !missing(row[highKey])) {
        text += ' <span class="ci">[' + fmt(row[lowKey]) + ", " + fmt(row[highKey]) + "]</span>";
      }
      return text;
    };
  }
  function plain(d) { return missing(d) ? "–" : Number(d).toFixed(3); }
  function countCell(d, type) {
    if (type !== "display") { return sortKey(d); }
    return missing(d) ? "–" : Number(d).toLocaleString("en");
  }
  function paramsCell(d, type) {
    if (type !== "display") { return sortKey(d); }
    return missing(d) ? "–" : Math.round(d / 1e6) + "M";
  }
  function textCell(d, type) {
    if (type !== "display") { return missing(d) ? null : String(d); }
    return missing(d) ? "–" : esc(d);
  }
  var FLAG_TITLES = {
    shifted: "2023 task columns look shifted by one{from}: the per-task scores are unreliable, " +
      "so this row is kept out of the 2023 rank",
    incomplete: "Some 2023 task scores are missing: no 36-task average, no 2023 rank"
  };
  function markers(row) {
    var out = "";
    if (row.nli) {
      out += ' <span class="mark mark-nli" title="Trained on NLI data (by its tags or name): ' +
        'the MNLI probe favours such models">NLI</span>';
    }
    (row.flags || []).forEach(function (f) {
      if (FLAG_TITLES[f]) {
        var from = row.shifted_from ? " from " + row.shifted_from : "";
        out += ' <span class="mark mark-warn" title="' + esc(FLAG_TITLES[f].replace("{from}", from)) +
          '">' + esc(f) + "</span>";
      }
    });
    return out;
  }

  function initTable(config) {
    var root = config.root;
    var columns = [
      { data: "probe_rank", render: rankCell("probe_tied"), className: "num" },
      {
        data: "model_id", render: function (d, type, row) {
          if (type !== "display") { return d; }
          return '<a href="' + esc(root + row.page) + '">' + esc(d) + "</a> " +
            '<a class="hub" href="https://huggingface.co/' + esc(d) + '" aria-label="' + esc(d) +
            ' on the Hugging Face hub">hub</a>' + markers(row);
        }
      },
      { data: "probe_accuracy", render: scoreCell("probe_low", "probe_high", pct), className: "num" },
      { data: "probe_gain", render: scoreCell("probe_gain_low", "probe_gain_high", signed), className: "num" },
      { data: "logme", render: scoreCell(null, null, plain), className: "num" },
      { data: "hscore", render: scoreCell(null, null, plain), className: "num" },
      { data: "legacy_rank", render: rankCell("legacy_tied"), className: "num" },
      { data: "avg", render: scoreCell(null, null, pct), className: "num" },
      { data: "gain", render: scoreCell(null, null, signed), className: "num" },
      { data: "mnli_lp", render: scoreCell(null, null, pct), className: "num" },
      { data: "downloads", render: countCell, className: "num" },
      { data: "likes", render: countCell, className: "num" },
      { data: "params", render: paramsCell, className: "num" },
      { data: "license", render: textCell },
      { data: "last_modified", render: textCell },
      { data: "probe_revision", render: textCell }
    ];
    window.DataTable.type("ranker", "order", { asc: nullsLast(1), desc: nullsLast(-1) });
    columns.forEach(function (c) {
      c.type = "ranker";  // renders never give undefined; no defaultContent, which would
      // replace a missing value's null sort key with text
      c.searchable = c.data === "model_id" || c.data === "license";  // the search box: names
    });
    var names = columns.map(function (c) { return c.data; });
    var form = document.getElementById("controls");
    var fields = ["q", "size", "license", "since", "legacy", "nonli"];
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
      if (order && order[1]) { params.set("sort", names[order[0]]); params.set("dir", order[1]); }
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
      if (control("nonli").checked && row.nli) { return false; }
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
