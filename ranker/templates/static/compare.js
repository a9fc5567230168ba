/* The compare view: the models named in the address (?m=owner/name, repeated) side by side.
   Rows come from the architecture's chunk scripts (rankerRows(k, rows)), 2023 per-task gains
   from rows/<slug>/tasks.js (rankerTasks(data)). Text is set with textContent only. The
   loader, the percent format and the model-page links are ranker.js's (window.ranker). */
(function () {
  "use strict";
  var ranker = window.ranker, pct = ranker.pct;
  var config = JSON.parse(document.getElementById("compare-data").textContent);
  var status = document.getElementById("compare-status");
  var table = document.getElementById("compare-table");
  var input = document.getElementById("compare-q");
  var list = document.getElementById("compare-ids");
  var byId = {}, ids = [], tasks = null, f = {};
  config.fields.forEach(function (name, i) { f[name] = i; });

  function interval(r, key, low, high, signed) {
    var v = r[f[key]];
    if (v === null || v === undefined) { return "–"; }
    var lo = r[f[low]], hi = r[f[high]];
    return pct(v, signed) + (lo === null || lo === undefined ? "" :
      " [" + pct(lo, signed) + ", " + pct(hi, signed) + "]");
  }
  function plain(v) { return v === null || v === undefined || v === "" ? "–" : String(v); }
  function rank(r, key, tied) {
    var v = r[f[key]];
    if (v === null || v === undefined) { return "–"; }
    var t = r[f[tied]];
    return "#" + v + (t > 1 ? " (tied, " + t + " models)" : "");
  }
  var LINES = [
    ["Rank (our probe)", function (r) { return rank(r, "probe_rank", "probe_tied"); }],
    ["MNLI probe accuracy (%)", function (r) { return interval(r, "probe_accuracy", "probe_low", "probe_high"); }],
    ["Gain over the base (points)", function (r) { return interval(r, "probe_gain", "probe_gain_low", "probe_gain_high", true); }],
    ["LogME", function (r) { return r[f.logme] === null || r[f.logme] === undefined ? "–" : r[f.logme].toFixed(4); }],
    ["H-score", function (r) { return r[f.hscore] === null || r[f.hscore] === undefined ? "–" : r[f.hscore].toFixed(4); }],
    ["2023 rank", function (r) { return rank(r, "legacy_rank", "legacy_tied"); }],
    ["2023 36-task average (%)", function (r) { return pct(r[f.avg]); }],
    ["2023 gain (points)", function (r) { return pct(r[f.gain], true); }],
    ["2023 MNLI probe (%)", function (r) { return pct(r[f.mnli_lp]); }],
    ["Trained on NLI", function (r) { return r[f.nli] ? "yes" : "–"; }],
    ["Licence", function (r) { return plain(r[f.license]); }],
    ["Parameters", function (r) { return r[f.params] ? Math.round(r[f.params] / 1e6) + "M" : "–"; }],
    ["Downloads", function (r) { return r[f.downloads] === null || r[f.downloads] === undefined ? "–" : r[f.downloads].toLocaleString("en"); }],
    ["Last modified", function (r) { return plain(r[f.last_modified]); }],
    ["Evaluated", function (r) { return plain(r[f.evaluated_at]); }],
    ["Flags", function (r) { return plain(r[f.flags]); }]
  ];

  function chosen() {
    var seen = {}, out = [];
    new URLSearchParams(window.location.search).getAll("m").forEach(function (m) {
      if (!seen[m] && out.length < config.max) { seen[m] = true; out.push(m); }
    });
    return out;
  }
  function setChosen(models) {
    var params = new URLSearchParams();
    models.forEach(function (m) { params.append("m", m); });
    window.history.replaceState(null, "", "?" + params.toString());
    render();
  }

  function render() {
    var models = chosen(), known = models.filter(function (m) { return byId[m]; });
    var unknown = models.filter(function (m) { return !byId[m]; });
    var head = table.tHead.rows[0];
    while (head.cells.length > 1) { head.deleteCell(1); }
    var body = table.tBodies[0];
    body.textContent = "";
    known.forEach(function (m) {
      var th = document.createElement("th");
      th.scope = "col";
      var a = document.createElement("a");
      a.href = config.root + ranker.modelPage(config, m);
      a.textContent = m;
      th.appendChild(a);
      var x = document.createElement("button");
      x.type = "button";
      x.className = "remove";
      x.textContent = "remove";
      x.setAttribute("aria-label", "remove " + m);
      x.addEventListener("click", function () {
        setChosen(chosen().filter(function (o) { return o !== m; }));
      });
      th.appendChild(document.createTextNode(" "));
      th.appendChild(x);
      head.appendChild(th);
    });
    LINES.forEach(function (line) {
      var tr = document.createElement("tr"), th = document.createElement("th");
      th.scope = "row";
      th.textContent = line[0];
      tr.appendChild(th);
      known.forEach(function (m) {
        var td = document.createElement("td");
        td.className = "num";
        td.textContent = line[1](byId[m]);
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    var text = known.length < 2 ? "Choose at least two models to compare (up to " + config.max + ")." :
      known.length + " models compared.";
    if (unknown.length) { text += " Not in this architecture's table: " + unknown.join(", ") + "."; }
    status.textContent = text;
    input.disabled = models.length >= config.max;
    drawChart(known);
  }

  function drawChart(models) {
    var box = document.getElementById("compare-chart-box");
    var withTasks = tasks ? models.filter(function (m) { return tasks.gains[m]; }) : [];
    box.hidden = withTasks.length === 0;
    if (box.hidden || !window.Plotly) { return; }
    var traces = withTasks.map(function (m) {
      return { type: "bar", name: m, x: tasks.tasks, y: tasks.gains[m],
               hovertemplate: "%{x}: %{y:+.2f}<extra>" + m.replace(/[<>&]/g, "") + "</extra>" };
    });
    window.Plotly.newPlot("compare-chart", traces, {
      template: "none", barmode: "group", height: 440, hovermode: "closest",
      margin: { l: 60, r: 20, t: 20, b: 160 }, xaxis: { tickangle: -60, automargin: true },
      yaxis: { title: { text: "points" } }, legend: { orientation: "h", y: 1.1 },
      font: { family: "system-ui, sans-serif", size: 12 }
    }, { displaylogo: false, responsive: true });
  }

  function suggest() {
    var q = input.value.trim().toLowerCase(), n = 0;
    list.textContent = "";
    if (q.length < 2) { return; }
    for (var i = 0; i < ids.length && n < 20; i++) {
      if (ids[i].toLowerCase().indexOf(q) !== -1) {
        var o = document.createElement("option");
        o.value = ids[i];
        list.appendChild(o);
        n += 1;
      }
    }
  }
  function add() {
    var m = input.value.trim(), now = chosen();
    if (!byId[m]) { status.textContent = "No model " + m + " in this architecture's table."; return; }
    if (now.indexOf(m) === -1 && now.length < config.max) { now.push(m); }
    input.value = "";
    setChosen(now);
  }
  input.addEventListener("input", suggest);
  input.addEventListener("keydown", function (e) { if (e.key === "Enter") { add(); } });
  document.getElementById("compare-add").addEventListener("click", add);

  // every row chunk (chunk k, from 0, is config.chunks[k]), the tasks file and plotly.js
  var pending = 3, rows = [];
  function done() {
    pending -= 1;
    if (pending) { return; }
    rows.forEach(function (r) {
      if (!byId[r[f.model_id]]) { byId[r[f.model_id]] = r; ids.push(r[f.model_id]); }
    });
    render();
  }
  ranker.loadChunks(config.root, config.chunks, 0, "rankerRows", function (arrays) {
    rows = arrays;
    done();
  });
  window.rankerTasks = function (data) { tasks = data; };
  ranker.loadScripts([config.root + config.tasks], done);
  ranker.loadScripts([ranker.plotly], done);
})();
