/* ranker: draws the charts and runs the ranking table. Makes no request outside the site.
   Also the site's shared helpers, window.ranker, that the other scripts (compare.js,
   missing.js) use: the one script loader, the one percent format, the one model-page link
   (from the scheme the build hands the page as data, ranker.urls). */
(function () {
  "use strict";

  var ESC = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
  function esc(s) { return String(s).replace(/[&<>"']/g, function (c) { return ESC[c]; }); }
  function readJSON(id) {
    var el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }
  function missing(v) { return v === null || v === undefined; }
  // The site's one number format (ranker.build.numbers does the same in Python): toFixed of
  // the double, never "-0.00". fixed2: `scale` times the value to 2 decimals ("–" where
  // missing), signed on request: a 0-1 score as a percentage (scale 100), a gain already in
  // points (scale 1).
  function fixed(x, digits) {
    var s = x.toFixed(digits);
    return /^-[0.]*$/.test(s) ? s.slice(1) : s;
  }
  function fixed2(v, scale, sign) {
    if (missing(v)) { return "–"; }
    var s = fixed(scale * v, 2);
    return sign && s.charAt(0) !== "-" ? "+" + s : s;
  }
  // A parameter count: 420, 4.4K, 420K, 4.4M, 110M, 1.3B (ranker.build.numbers.size).
  function sizeText(n) {
    var units = [["B", 1e9], ["M", 1e6], ["K", 1e3]];
    for (var i = 0; i < units.length; i++) {
      if (n >= units[i][1] * 0.9995) {
        var x = n / units[i][1];
        return fixed(x, x >= 9.95 ? 0 : 1) + units[i][0];
      }
    }
    return fixed(n, 0);
  }
  function pct(v, sign) { return fixed2(v, 100, sign); }
  function signed(v) { return pct(v, true); }

  // A model's page: the scheme is data from the build (`pages`, the folder, and `page_name`,
  // how an id becomes a file name), never re-derived here.
  function modelPage(config, id) {
    var name = config.page_name;
    return config.pages + String(id).split("/").join(name.slash) + name.suffix;
  }

  // The one script loader: `urls` in parallel, then done(how many failed).
  function loadScripts(urls, done) {
    var pending = urls.length, failed = 0;
    if (!pending) { done(0); return; }
    urls.forEach(function (url) {
      var script = document.createElement("script");
      script.src = url;
      script.onload = script.onerror = function (event) {
        if (event.type === "error") { failed += 1; }
        pending -= 1;
        if (pending === 0) { done(failed); }
      };
      document.body.appendChild(script);
    });
  }
  // Chunk scripts: each calls window[name](k, arrays), and paths[i] is chunk k = first + i (a
  // call for any other k is not ours). Then done(the arrays of every chunk, in order, failed).
  function loadChunks(root, paths, first, name, done) {
    var parts = new Array(paths.length);
    window[name] = function (k, arrays) {
      if (k >= first && k < first + parts.length) { parts[k - first] = arrays; }
    };
    loadScripts(paths.map(function (p) { return root + p; }), function (failed) {
      done([].concat.apply([], parts.map(function (p) { return p || []; })), failed);
    });
  }

  // A figure with a `fill` key gets its points from the table's rows (every row, once loaded).
  function fillFigure(fig, rows) {
    var f = fig.fill, trace = fig.data[0];
    trace.x = []; trace.y = []; trace.hovertext = [];
    rows.forEach(function (r) {
      if (!missing(r[f.x]) && !missing(r[f.y])) {
        trace.x.push(r[f.x] + 1);
        trace.y.push(100 * r[f.y]);
        trace.hovertext.push(esc(r[f.text]));
      }
    });
  }

  // plotly.js (1.2 MB) is loaded only when a page has a chart, and on an architecture page
  // only once its table is usable: it sits beside this script, in vendor/plotly/.
  var HERE = document.currentScript ? document.currentScript.src : "";
  var PLOTLY = HERE.replace(/ranker\.js(\?.*)?$/, "vendor/plotly/plotly-basic.min.js");
  function withPlotly(then) {
    if (window.Plotly) { then(); return; }
    loadScripts([PLOTLY], function (failed) { if (!failed) { then(); } });
  }

  // A title longer than the chart is wide (a phone) is broken into lines between words
  // (plotly does not wrap it), the top margin grown to hold them. The text is escaped already.
  function fitTitle(layout, width) {
    var title = layout.title && layout.title.text, perLine = Math.floor((width - 20) / 9);
    if (!title || !width || title.length <= perLine) { return; }
    var lines = [""];
    title.split(" ").forEach(function (word) {
      var last = lines.length - 1;
      if (lines[last] && (lines[last] + " " + word).length > perLine) { lines.push(word); }
      else { lines[last] = lines[last] ? lines[last] + " " + word : word; }
    });
    layout.title.text = lines.join("<br>");
    layout.margin = layout.margin || {};
    layout.margin.t = (layout.margin.t || 40) + 20 * (lines.length - 1);
  }

  function drawCharts(rows) {
    var boxes = document.querySelectorAll("[data-figure]");
    if (!boxes.length) { return; }
    if (!window.Plotly) { withPlotly(function () { drawCharts(rows); }); return; }
    Array.prototype.forEach.call(boxes, function (el) {
      var fig = readJSON(el.getAttribute("data-figure"));
      if (fig && fig.fill) {
        if (!rows) { return; }
        fillFigure(fig, rows);
      }
      if (fig) {
        fitTitle(fig.layout, el.clientWidth);
        // no mode bar: on a phone it covers the title, and the charts need no zoom or export
        window.Plotly.newPlot(el, fig.data, fig.layout,
          { displaylogo: false, displayModeBar: false, responsive: true });
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
  // Why a row has no rank, when it has a score of that kind: said in the cell's tooltip.
  var NO_RANK = {
    probe_rank: function (row) {
      return missing(row.probe_accuracy) ? "" : "Not ranked: this result has no per-pair " +
        "scores of the current data sample, and ranks come from the paired test";
    },
    legacy_rank: function (row) {
      var flags = row.flags || [];
      if (flags.indexOf("shifted") >= 0 || flags.indexOf("incomplete") >= 0) {
        return "";  // marked, with the reason, beside the model's name
      }
      return missing(row.avg) && !missing(row.mnli_lp) ? "No 2023 rank: IBM's 2023 data has " +
        "this model's MNLI probe score only, no 36-task average (the 2023 rank's score)" : "";
    }
  };
  function rankCell(key, tiedKey) {
    return function (d, type, row) {
      if (type !== "display") { return sortKey(d); }
      if (missing(d)) {
        var why = NO_RANK[key](row);
        // a short visible mark where a score has no rank, the reason in its tooltip
        return why ? '<span class="norank" title="' + esc(why) + '">' +
          (key === "legacy_rank" && missing(row.avg) ? "probe only" : "unranked") + "</span>" : "–";
      }
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
  function plain(d) { return missing(d) ? "–" : fixed(Number(d), 3); }
  function countCell(d, type) {
    if (type !== "display") { return sortKey(d); }
    return missing(d) ? "–" : Number(d).toLocaleString("en");
  }
  function paramsCell(d, type) {
    if (type !== "display") { return sortKey(d); }
    return missing(d) ? "–" : sizeText(Number(d));
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

  // Rows come as arrays in `config.fields` order: the page holds the first ones, the chunk
  // scripts rows/<slug>/<k>.js the rest (each calls rankerRows(k, rows)).
  function decode(config, arrays) {
    var fields = config.fields, n = fields.length;
    return arrays.map(function (a) {
      var row = {};
      for (var i = 0; i < n; i++) { row[fields[i]] = a[i] === undefined ? null : a[i]; }
      row.page = modelPage(config, row.model_id);
      return row;
    });
  }

  // What the caption says a column is sorted by, and how each direction reads.
  var NUMBER = ["low to high", "high to low"], RANK = ["best first", "worst first"];
  var SORTS = {
    probe_rank: ["rank", RANK], model_id: ["model id", ["A to Z", "Z to A"]],
    probe_accuracy: ["MNLI probe accuracy", NUMBER], probe_gain: ["gain", NUMBER],
    logme: ["LogME", NUMBER], hscore: ["H-score", NUMBER],
    verified_gain: ["verified gain (finetuning)", NUMBER], legacy_rank: ["2023 rank", RANK],
    avg: ["36-task average", NUMBER], gain: ["2023 gain", NUMBER],
    mnli_lp: ["2023 MNLI probe", NUMBER], downloads: ["downloads", NUMBER],
    likes: ["likes", NUMBER], params: ["size", ["small to large", "large to small"]],
    license: ["license", ["A to Z", "Z to A"]],
    last_modified: ["last modified", ["oldest first", "newest first"]],
    probe_revision: ["evaluated revision", ["A to Z", "Z to A"]],
    task: ["the chosen task's 2023 gain", NUMBER]
  };
  var MAX_COMPARE = 4;

  function initTable(config) {
    var root = config.root;
    var comparePage = root + config.compare;
    var form = document.getElementById("controls");
    var tableEl = document.getElementById("ranking");
    var caption = tableEl.querySelector("caption");
    var familyBox = document.getElementById("f-family");
    var families = config.fields.indexOf("family_size") >= 0 && familyBox;
    var expanded = {};  // family -> true once its "+N more" is opened
    var bestOf = {};  // family -> its best row (rows arrive in the page's order: best first)
    var membersOf = {};  // family -> its other rows
    var chosenCols = null;  // the reader's columns (keys, from the chooser), or the default set
    var selected = [];  // model ids chosen for the compare view, in the order chosen

    function familyButton(row) {
      if (!families || !row.family_best || !(row.family_size > 1)) { return ""; }
      var open = !!expanded[row.family], n = row.family_size - 1;
      return ' <button type="button" class="fam" data-family="' + esc(row.family) +
        '" aria-expanded="' + open + '" title="' + esc(row.family) + ": " + n +
        ' more related model' + (n > 1 ? "s" : "") + ' (same author and name stem, or lineage)">' +
        (open ? "hide " + n : "+" + n + " more") + "</button>";
    }
    var columns = [
      {
        data: null, orderable: false, searchable: false, className: "cmp",
        render: function (d, type, row) {
          if (type !== "display") { return ""; }
          var on = selected.indexOf(row.model_id) >= 0;
          return '<input type="checkbox" class="cmp-box" value="' + esc(row.model_id) +
            '" aria-label="Compare ' + esc(row.model_id) + '"' + (on ? " checked" : "") + ">";
        }
      },
      { data: "probe_rank", render: rankCell("probe_rank", "probe_tied"), className: "num" },
      {
        data: "model_id", className: "model", render: function (d, type, row) {
          if (type !== "display") { return d; }
          return '<a href="' + esc(root + row.page) + '">' + esc(d) + "</a> " +
            '<a class="hub" href="https://huggingface.co/' + esc(d) + '" aria-label="' + esc(d) +
            ' on the Hugging Face hub">hub</a>' + markers(row) + familyButton(row);
        }
      },
      { data: "probe_accuracy", render: scoreCell("probe_low", "probe_high", pct), className: "num" },
      { data: "probe_gain", render: scoreCell("probe_gain_low", "probe_gain_high", signed), className: "num" },
      { data: "logme", render: scoreCell(null, null, plain), className: "num" },
      { data: "hscore", render: scoreCell(null, null, plain), className: "num" },
      { data: "verified_gain", render: scoreCell("verified_gain_low", "verified_gain_high", signed), className: "num" },
      { data: "legacy_rank", render: rankCell("legacy_rank", "legacy_tied"), className: "num" },
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
    // the task picker's 2023 per-task gain (points over the base), from tasks.js: right after
    // the page's score column (its header is there in the page too), so it shows on screen
    var TASK_COL = columns.map(function (c) { return c.data; }).indexOf(config.score) + 1;
    columns.splice(TASK_COL, 0, {
      data: null, key: "task", className: "num", visible: false, searchable: false,
      type: "ranker",
      render: function (d, type, row) {
        var v = taskGain(row);
        if (type !== "display") { return v; }
        return fixed2(v, 1, true);
      }
    });
    columns[0].key = "cmp";
    var tasks = null;
    function taskGain(row) {
      var i = tasks ? tasks.tasks.indexOf(control("task") ? control("task").value : "") : -1;
      var gains = i >= 0 ? tasks.gains[row.model_id] : null;
      return gains && gains[i] !== null && gains[i] !== undefined ? gains[i] : null;
    }
    window.DataTable.type("ranker", "order", { asc: nullsLast(1), desc: nullsLast(-1) });
    var empty = config.empty_columns || [];  // a hint from the build: columns with no value
    columns.forEach(function (c) {
      if (c.data === null) { return; }
      c.type = "ranker";  // renders never give undefined; no defaultContent, which would
      // replace a missing value's null sort key with text
      c.searchable = c.data === "model_id" || c.data === "license";  // the search box: names
      c.visible = empty.indexOf(c.data) < 0;
    });
    var names = columns.map(function (c) { return c.key || c.data; });
    var terms = config.terms || {};  // the glossary's tooltips of the column headers (data)
    columns.forEach(function (c, i) {
      if (terms[names[i]]) { tableEl.tHead.rows[0].cells[i].title = terms[names[i]]; }
    });
    var fields = ["q", "size", "license", "since", "legacy", "nonli"];
    if (form.elements.namedItem("task")) { fields.push("task"); }
    function control(name) { return form.elements.namedItem(name); }

    function readState() {
      var params = new URLSearchParams(window.location.hash.replace(/^#/, ""));
      fields.forEach(function (f) {
        var el = control(f);
        var v = params.get(f) || "";
        if (el.type === "checkbox") { el.checked = v === "1"; } else { el.value = v; }
      });
      if (familyBox) { familyBox.checked = params.get("family") !== "0"; }  // on by default
      chosenCols = params.has("cols") ? params.get("cols").split(",") : null;
      var col = names.indexOf(params.get("sort"));
      var dir = params.get("dir") === "asc" ? "asc" : "desc";
      return col < 1 ? defaultOrder() : [[col, dir]];
    }
    // The default order (the build's `default_order`): by the page's rank, then by its score
    // within a shared rank, then the unranked rows by score; so ranks never go down the page.
    function defaultOrder() {
      return (config.default_order || []).map(function (o) { return [names.indexOf(o[0]), o[1]]; })
        .filter(function (o) { return o[0] > 0; });
    }
    function isDefault(order) {
      return JSON.stringify(order.map(function (o) { return [o[0], o[1]]; })) ===
        JSON.stringify(defaultOrder());
    }
    function writeState(table) {
      var params = new URLSearchParams();
      fields.forEach(function (f) {
        var el = control(f);
        var v = el.type === "checkbox" ? (el.checked ? "1" : "") : el.value;
        if (v) { params.set(f, v); }
      });
      if (families && !familyBox.checked) { params.set("family", "0"); }
      if (chosenCols) { params.set("cols", chosenCols.join(",")); }
      var order = table.order()[0];
      if (order && order[1] && !isDefault(table.order())) {
        params.set("sort", names[order[0]]);
        params.set("dir", order[1]);
      }
      var hash = params.toString();
      window.history.replaceState(null, "", hash ? "#" + hash : window.location.pathname);
    }

    // The filters' values, read once per draw (not once per row: 100k DOM reads add up).
    var filters = null;
    function readFilters() {
      var size = control("size").value.split("-");
      filters = {
        low: size[0] ? Number(size[0]) : null,
        high: size.length > 1 && size[1] ? Number(size[1]) : null,
        size: control("size").value !== "",
        license: control("license").value,
        since: control("since").value,
        legacy: control("legacy").checked,
        nonli: control("nonli").checked,
        family: !!(families && familyBox.checked),
        // the search box's words, as DataTables' smart search reads them (for a family's best)
        words: control("q").value.toLowerCase().split(/\s+/).filter(Boolean)
      };
      filters.any = filters.size || filters.license || filters.since || filters.legacy ||
        filters.nonli;
    }
    function passes(f, row) {
      if (!f.any) { return true; }
      if (f.size) {
        var millions = missing(row.params) ? null : row.params / 1e6;
        if (millions === null) { return false; }
        if (f.low !== null && millions < f.low) { return false; }
        if (f.high !== null && millions >= f.high) { return false; }
      }
      if (f.license && row.license !== f.license) { return false; }
      if (f.since && (missing(row.evaluated_at) || row.evaluated_at < f.since)) { return false; }
      if (f.legacy && missing(row.avg) && missing(row.mnli_lp)) { return false; }
      if (f.nonli && row.nli) { return false; }
      return true;
    }
    function found(f, row) {
      var text = (row.model_id + " " + (row.license || "")).toLowerCase();
      return f.words.every(function (w) { return text.indexOf(w) >= 0; });
    }
    window.DataTable.ext.search.push(function (settings, searchData, index, row) {
      var node = settings.nTable || settings.table;  // DataTables 2 and 3 name it differently
      if (!node || node.id !== "ranking") { return true; }
      if (!filters) { readFilters(); }
      var f = filters;
      if (!passes(f, row)) { return false; }
      // One row per family: a family's other rows stay hidden while its best row is shown
      // (when the filters or the search hide the best, the rows that match show instead); an
      // opened family's rows are shown under its best row (showMembers), not sorted apart.
      if (f.family && row.family_size > 1 && !row.family_best) {
        var best = bestOf[row.family];
        if (best && passes(f, best) && found(f, best)) { return false; }
      }
      return true;
    });

    function addRows(rows) {
      rows.forEach(function (r) {
        if (r.family_best && r.family_size > 1) { bestOf[r.family] = r; }
        if (!r.family_best && r.family_size > 1) {
          (membersOf[r.family] = membersOf[r.family] || []).push(r);
        }
      });
    }

    var order = readState();
    // the chunks load (in parallel, off the main thread) while the first rows make the table
    var chunks = null, table = null;
    // chunk k (1, 2, ...) is config.chunks[k - 1]: the page holds the first rows (chunk 0)
    loadChunks(root, config.chunks, 1, "rankerRows", function (arrays, failed) {
      chunks = { rest: decode(config, arrays), failed: failed };
      if (table) { complete(); }
    });
    var first = decode(config, config.rows);
    addRows(first);
    table = new window.DataTable("#ranking", {
      data: first,
      columns: columns,
      order: order,
      deferRender: true,
      pageLength: 50,
      // no "All": a sort then redraws a page of at most 250 rows, never thousands
      lengthMenu: [25, 50, 100, 250],
      search: { search: control("q").value },
      // the page length below the table: the table starts higher on the first screen
      layout: { topStart: null, topEnd: null, bottomStart: ["pageLength", "info"], bottomEnd: "paging" },
      autoWidth: false
    });
    var status = document.getElementById("table-status");
    var loading = config.total > first.length;
    var title = caption.getAttribute("data-title") || "";
    function describe() {
      var order = table.order(), o = order[0], key = o ? names[o[0]] : null, sort = SORTS[key];
      var text = title + (filters && filters.family ? ", one row per family" : "");
      if (sort && order.length > 1 && isDefault(order)) {
        text += ", sorted by " + sort[0] + ", then by " + SORTS[names[order[1][0]]][0] +
          " within a shared rank (unranked rows last)";
      } else if (sort && o[1]) {
        text += ", sorted by " + sort[0] + ", " + sort[1][o[1] === "asc" ? 0 : 1];
      }
      if (caption.textContent !== text) { caption.textContent = text; }
    }
    table.on("draw", function () {
      var info = table.page.info();
      status.textContent = loading
        ? "Loading " + config.total + " models: " + info.recordsTotal + " so far."
        : info.recordsDisplay + " of " + info.recordsTotal + " models shown" +
          (filters && filters.family && info.recordsDisplay < info.recordsTotal
            ? " (one row per family)." : ".");
      tableEl.classList.toggle("all-rows", !(filters && filters.family));
      describe();
      showMembers();
      writeState(table);
    });
    // The task column: shown with the task chosen in the picker, once tasks.js is in.
    var shownTask = "";
    function applyTask() {
      var picker = control("task"), name = picker ? picker.value : "";
      var on = !!(tasks && name && tasks.tasks.indexOf(name) >= 0);
      if (name === shownTask && table.column(TASK_COL).visible() === on) { return; }
      shownTask = name;
      // a hidden column's header is out of the document: DataTables keeps it
      var head = table.column(TASK_COL).header();
      (head.querySelector(".dt-column-title") || head).textContent =
        on ? "2023 gain: " + name : "2023 task gain";
      table.column(TASK_COL).visible(on, false);
      table.rows().invalidate("data");  // the cells and sort keys of the task column changed
    }
    if (config.tasks) {
      window.rankerTasks = function (data) { tasks = data; applyTask(); table.draw(false); };
      loadScripts([root + config.tasks], function () {});
    }
    // DataTables filters before its preDraw: read the controls before asking for a draw
    function redraw() { readFilters(); applyTask(); table.search(control("q").value).draw(); }
    form.addEventListener("input", function (event) {
      if (!event.target.hasAttribute("data-col")) { redraw(); }
    });
    form.addEventListener("change", function (event) {
      if (event.target.hasAttribute("data-col")) { chooseColumns(); return; }
      // the search box's "change" (on leaving it) comes after its "input": drawing again then
      // would swap the rows under a click that left it (a "+N more" would lose its click)
      if (event.target !== control("q")) { redraw(); }
    });
    window.addEventListener("hashchange", function () {
      table.order(readState());
      applyColumns();
      redraw();
    });

    // Elements of every row drawn so far, on the page shown or not (DataTables keeps them).
    function inRows(selector) {
      var out = Array.prototype.slice.call(tableEl.querySelectorAll("tr.fam-member " + selector));
      table.rows().nodes().toArray().forEach(function (tr) {
        if (tr) { out.push.apply(out, tr.querySelectorAll(selector)); }
      });
      return out;
    }

    // An opened family: its other rows (those the filters and the search let through) right
    // under its best row, in the table's current order, whatever that order is; they are the
    // best row's child rows, so no sort moves them away from it.
    var childOf = {};  // family -> the row index of its best row, while its rows are shown
    function sortValue(c, row) { return c.render(c.data === null ? null : row[c.data], "sort", row); }
    function byOrder() {
      var order = table.order();
      return function (a, b) {
        for (var k = 0; k < order.length; k++) {
          var c = columns[order[k][0]];
          var r = nullsLast(order[k][1] === "asc" ? 1 : -1)(sortValue(c, a), sortValue(c, b));
          if (r) { return r; }
        }
        return 0;
      };
    }
    function memberRow(row) {
      var tr = document.createElement("tr");
      tr.className = "fam-member";
      columns.forEach(function (c, i) {
        if (!table.column(i).visible()) { return; }
        var td = document.createElement("td");
        if (c.className) { td.className = c.className; }
        td.innerHTML = c.render(c.data === null ? null : row[c.data], "display", row);
        tr.appendChild(td);
      });
      return tr;
    }
    function bestIndex(fam) {
      var at = -1;
      table.rows({ order: "index" }).data().toArray().some(function (r, i) {
        if (r.family === fam && r.family_best) { at = i; }
        return at >= 0;
      });
      return at;
    }
    function showMembers() {
      var on = !!(filters && filters.family);
      Object.keys(childOf).forEach(function (fam) {
        if (!on || !expanded[fam]) { table.row(childOf[fam]).child.remove(); delete childOf[fam]; }
      });
      if (!on) { return; }
      Object.keys(expanded).forEach(function (fam) {
        var at = fam in childOf ? childOf[fam] : bestIndex(fam);
        if (at < 0) { return; }
        var members = (membersOf[fam] || []).filter(function (m) {
          return passes(filters, m) && found(filters, m);
        }).sort(byOrder());
        table.row(at).child(members.map(memberRow)).show();
        childOf[fam] = at;
      });
    }

    // The column chooser: the build's default set fits a 1280 px screen; the reader's choice
    // is kept in the address (cols=...). Columns no row has a value in stay hidden.
    var emptyCols = {};
    (config.empty_columns || []).forEach(function (k) { emptyCols[k] = true; });
    var chooser = document.getElementById("col-list");
    function fixedCol(key) { return key === "cmp" || key === "model_id" || key === "task"; }
    function wanted(key) {
      var list = chosenCols || config.default_columns;
      return !list || list.indexOf(key) >= 0;
    }
    function applyColumns() {
      names.forEach(function (key, i) {
        if (fixedCol(key)) { return; }
        var on = !emptyCols[key] && wanted(key);
        if (table.column(i).visible() !== on) { table.column(i).visible(on, false); }
      });
      if (!chooser) { return; }
      Array.prototype.forEach.call(chooser.querySelectorAll("input[data-col]"), function (box) {
        var key = box.getAttribute("data-col");
        box.checked = wanted(key);
        box.parentNode.hidden = !!emptyCols[key];
      });
    }
    function chooseColumns() {
      var keys = [];
      Array.prototype.forEach.call(chooser.querySelectorAll("input[data-col]"), function (box) {
        if (box.checked) { keys.push(box.getAttribute("data-col")); }
      });
      var same = config.default_columns && keys.join() === config.default_columns.filter(
        function (k) { return names.indexOf(k) >= 0 && !fixedCol(k); }).join();
      chosenCols = same ? null : keys;
      applyColumns();
      showMembers();
      writeState(table);
    }
    if (chooser) {
      chooser.innerHTML = names.map(function (key, i) {
        if (fixedCol(key)) { return ""; }
        var head = table.column(i).header();  // hidden ones are out of the page
        var name = esc(head.textContent.trim());  // named apart from the filters' labels
        return '<label><input type="checkbox" data-col="' + esc(key) + '" aria-label="' + name +
          ' column"> ' + name + "</label>";
      }).join("");
      document.getElementById("col-chooser").hidden = false;
      document.getElementById("col-default").addEventListener("click", function () {
        chosenCols = null;
        applyColumns();
        showMembers();
        writeState(table);
      });
      applyColumns();
    }

    // "+N more": open (or close) one family, wherever the table is
    tableEl.addEventListener("click", function (event) {
      var button = event.target.closest ? event.target.closest("button.fam") : null;
      if (!button) { return; }
      var fam = button.getAttribute("data-family");
      if (expanded[fam]) { delete expanded[fam]; } else { expanded[fam] = true; }
      var best = bestOf[fam], n = best ? best.family_size - 1 : 0;
      inRows("button.fam").forEach(function (b) {
        if (b.getAttribute("data-family") === fam) {
          b.setAttribute("aria-expanded", String(!!expanded[fam]));
          b.textContent = expanded[fam] ? "hide " + n : "+" + n + " more";
        }
      });
      showMembers();  // the family's rows in or out, under its best row: no redraw
    });

    // Compare: 2 to MAX_COMPARE checked rows make a link to the compare view.
    var bar = document.getElementById("compare-bar");
    var link = document.getElementById("compare-link");
    var said = document.getElementById("compare-msg");
    function showSelection(message) {
      var n = selected.length;
      bar.hidden = n === 0 && !message;
      document.body.classList.toggle("with-compare-bar", !bar.hidden);  // room below the page
      link.hidden = n < 2;
      link.textContent = "Compare selected (" + n + ")";
      link.href = comparePage + "?" + selected.map(function (m) {
        return "m=" + encodeURIComponent(m);
      }).join("&");
      said.textContent = message || (n === 1 ? "1 model selected: choose 1 to " +
        (MAX_COMPARE - 1) + " more to compare." : n + " of at most " + MAX_COMPARE + " selected.");
    }
    tableEl.addEventListener("change", function (event) {
      var box = event.target;
      if (!box.classList || !box.classList.contains("cmp-box")) { return; }
      var id = box.value, at = selected.indexOf(id);
      if (box.checked && at < 0) {
        if (selected.length >= MAX_COMPARE) {
          box.checked = false;
          showSelection("At most " + MAX_COMPARE + " models can be compared: " +
            "clear one before adding " + id + ".");
          return;
        }
        selected.push(id);
      } else if (!box.checked && at >= 0) {
        selected.splice(at, 1);
      }
      showSelection();
    });
    document.getElementById("compare-clear").addEventListener("click", function () {
      selected = [];
      inRows("input.cmp-box").forEach(function (b) { b.checked = false; });
      showSelection();
    });

    // Columns no row has a value in are hidden (on a page of 2023 results only: our probe's).
    function hideEmpty(rows) {
      var hidden = [];
      emptyCols = {};
      columns.forEach(function (c) {
        if (c.data === null || c.data === "model_id") { return; }
        var none = rows.every(function (r) { return isMissing(r[c.data]); });
        if (none) { emptyCols[c.data] = true; hidden.push(SORTS[c.data][0]); }
      });
      applyColumns();
      var note = document.getElementById("table-hidden");
      note.hidden = !hidden.length;
      note.textContent = hidden.length ? "Not shown: no model here has " + hidden.join(", ") + "." : "";
      unranked(rows);
    }
    // The rows with a 2023 MNLI probe score and no 2023 rank, counted where the 2023 rank is
    // the page's rank (their cells say why too).
    function unranked(rows) {
      var note = document.getElementById("table-norank");
      if (!note) { return; }
      var n = rows.filter(function (r) {
        return missing(r.legacy_rank) && missing(r.avg) && !missing(r.mnli_lp);
      }).length;
      note.hidden = !n;
      note.textContent = n ? n.toLocaleString("en") + " of " + rows.length.toLocaleString("en") +
        " rows have a 2023 MNLI probe score but no 36-task average: no 2023 rank " +
        "(“probe only”)." : "";
    }

    // the family toggle only where some family has more than one row
    var familyToggle = document.getElementById("family-toggle");
    function showFamilyToggle() { familyToggle.hidden = !Object.keys(bestOf).length; }
    if (familyToggle) { showFamilyToggle(); }

    function complete() {
      loading = false;
      if (chunks.rest.length) { addRows(chunks.rest); table.rows.add(chunks.rest); }
      if (familyToggle) { showFamilyToggle(); }
      var rows = table.rows().data().toArray();
      hideEmpty(rows);
      table.draw(false);  // sorted and filtered again, over every row
      if (chunks.failed) {
        status.textContent += " " + chunks.failed + " part(s) of the table failed to load; " +
          "the CSV download has every model.";
      }
      document.documentElement.setAttribute("data-table-ready", "1");
      window.setTimeout(function () { drawCharts(rows); }, 0);  // after the table is usable
    }
    if (chunks) { complete(); }
  }

  // On a small screen the long note on ranks starts closed: the table comes first.
  function foldNotes() {
    if (!window.matchMedia || !window.matchMedia("(max-width: 640px)").matches) { return; }
    Array.prototype.forEach.call(document.querySelectorAll("details.fold-small"), function (d) {
      d.open = false;
    });
  }

  window.ranker = {  // what compare.js and missing.js use
    pct: pct, modelPage: modelPage, loadScripts: loadScripts, loadChunks: loadChunks,
    plotly: PLOTLY, fixed2: fixed2, size: sizeText, fixed: fixed, esc: esc
  };

  function main() {
    foldNotes();
    var config = readJSON("table-data");
    if (config && window.DataTable) { initTable(config); } else { drawCharts(null); }
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", main);
  } else {
    main();
  }
}());
