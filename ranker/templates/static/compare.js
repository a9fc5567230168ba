/* The compare view: the models named in the address (?m=owner/name, repeated) side by side,
   and for every pair of them whether one is significantly better, by the ranks' own tests.
   Rows come from the architecture's chunk scripts (rankerRows(k, rows)), 2023 per-task gains
   from rows/<slug>/tasks.js (rankerTasks(data)), each chosen probe model's per-pair bits from
   its shard, rows/<slug>/pairs/<k>.js (rankerPairs(k, data)); the ranks' shared resamples are
   redrawn here (resampleIndices) and each model's right answers in them counted
   (ranker.build.pairs says how they are made and tested). Text is set with textContent only. The loader, the
   number formats and the model-page links are ranker.js's (window.ranker). */
(function () {
  "use strict";
  var ranker = window.ranker, pct = ranker.pct, fixed2 = ranker.fixed2;
  var config = JSON.parse(document.getElementById("compare-data").textContent);
  var probe = config.pairs.probe, legacy = config.pairs.legacy;
  var status = document.getElementById("compare-status");
  var table = document.getElementById("compare-table");
  var hiddenNote = document.getElementById("compare-hidden");
  var pairsBox = document.getElementById("compare-pairs-box");
  var pairsList = document.getElementById("compare-pairs");
  var input = document.getElementById("compare-q");
  var list = document.getElementById("compare-ids");
  var byId = {}, ids = [], tasks = null, f = {};
  config.fields.forEach(function (name, i) { f[name] = i; });

  function missing(v) { return v === null || v === undefined || v === ""; }
  function value(r, key) { var v = r[f[key]]; return missing(v) ? null : v; }
  function interval(r, key, low, high, signed) {
    var v = value(r, key);
    if (v === null) { return "–"; }
    var lo = value(r, low), hi = value(r, high);
    return pct(v, signed) + (lo === null || hi === null ? "" :
      " [" + pct(lo, signed) + ", " + pct(hi, signed) + "]");
  }
  function plain(v) { return missing(v) ? "–" : String(v); }
  function rank(r, key, tied) {
    var v = value(r, key);
    if (v === null) { return "–"; }
    var t = value(r, tied);
    return "#" + v + (t > 1 ? " (" + t.toLocaleString("en") + " tied)" : "");
  }
  function score3(v) { return v === null ? "–" : ranker.fixed(Number(v), 3); }
  // [label, value of a row as text ("–" where missing)]; a line no chosen model has is hidden
  var LINES = [
    ["Rank (our MNLI probe)", function (r) { return rank(r, "probe_rank", "probe_tied"); }],
    ["MNLI probe accuracy (%) [95% CI]", function (r) { return interval(r, "probe_accuracy", "probe_low", "probe_high"); }],
    ["Gain over the base (points) [95% CI]", function (r) { return interval(r, "probe_gain", "probe_gain_low", "probe_gain_high", true); }],
    ["LogME", function (r) { return score3(value(r, "logme")); }],
    ["H-score", function (r) { return score3(value(r, "hscore")); }],
    ["Verified gain by finetuning (points) [95% CI]", function (r) {
      var n = value(r, "verified_tasks");
      if (n === null) { return "–"; }
      return interval(r, "verified_gain", "verified_gain_low", "verified_gain_high", true) +
        " (" + n + " task" + (n === 1 ? "" : "s") + ")";
    }],
    ["2023 rank", function (r) { return rank(r, "legacy_rank", "legacy_tied"); }],
    ["2023 36-task average (%)", function (r) { return pct(value(r, "avg")); }],
    ["2023 gain (points)", function (r) { return pct(value(r, "gain"), true); }],
    ["2023 MNLI probe (%)", function (r) { return pct(value(r, "mnli_lp")); }],
    ["Trained on NLI", function (r) { return value(r, "nli") ? "yes" : "–"; }],
    ["Licence", function (r) { return plain(value(r, "license")); }],
    ["Parameters", function (r) { return value(r, "params") === null ? "–" : ranker.size(Number(value(r, "params"))); }],
    ["Downloads", function (r) { return value(r, "downloads") === null ? "–" : value(r, "downloads").toLocaleString("en"); }],
    ["Last modified", function (r) { return plain(value(r, "last_modified")); }],
    ["Evaluated", function (r) { return plain(value(r, "evaluated_at")); }],
    ["Flags", function (r) { return plain(value(r, "flags")); }]
  ];

  // -- the paired tests --------------------------------------------------------------------
  var bits = {}, shardsLoaded = {};  // model id -> {right, text, resampled (once counted)}
  // ranker.build.pairs.shard_of: FNV-1a (32 bits) over the id's UTF-16 code units
  function shardOf(id, shards) {
    var h = 0x811c9dc5;
    for (var i = 0; i < id.length; i++) { h = Math.imul(h ^ id.charCodeAt(i), 0x01000193) >>> 0; }
    return h % shards;
  }
  // ranker.build.resamples.triple32 and resample_indices: draw i of resample r is
  // floor(h·n / 2^32), h = triple32((r·n + i + triple32(seed)) mod 2^32), exactly as numpy does
  function triple32(x) {
    x ^= x >>> 17; x = Math.imul(x, 0xed5ad4bb);
    x ^= x >>> 11; x = Math.imul(x, 0xac4c1b51);
    x ^= x >>> 15; x = Math.imul(x, 0x31848bab);
    x ^= x >>> 14;
    return x >>> 0;
  }
  function resampleIndices(n, resamples, seed) {
    var total = n * resamples, key = triple32(seed >>> 0);
    var out = n <= 65536 ? new Uint16Array(total) : new Uint32Array(total);
    for (var c = 0; c < total; c++) {
      out[c] = Math.floor(triple32((c + key) >>> 0) * n / 4294967296);
    }
    return out;
  }
  var stream = null;  // the R×n index stream, drawn once, when two probe models are tested
  // A model's right answers in each resample (ProbeComparison.resampled's row), from its bits.
  function resampledOf(m) {
    var B = bits[m];
    if (B.resampled) { return B.resampled; }
    var n = probe.n_eval, count = probe.resamples, raw = window.atob(B.text);
    var right = new Uint8Array(n), out = new Int32Array(count);
    for (var i = 0; i < n; i++) { right[i] = (raw.charCodeAt(i >> 3) >> (7 - (i & 7))) & 1; }
    if (!stream) { stream = resampleIndices(n, count, probe.seed); }
    for (var r = 0, c = 0; r < count; r++) {
      var s = 0;
      for (var end = c + n; c < end; c++) { s += right[stream[c]]; }
      out[r] = s;
    }
    B.resampled = out;
    return out;
  }
  window.rankerPairs = function (k, data) {
    Object.keys(data).forEach(function (id) {
      bits[id] = { right: data[id][0], text: data[id][1], resampled: null };
    });
  };
  // for the tests: the stream and the counts, to hold against Python's
  window.rankerCompare = { resampleIndices: resampleIndices, resampledOf: resampledOf };
  function ranked(m) { return byId[m] && value(byId[m], "probe_rank") !== null; }
  function loadPairs(models, then) {
    var need = [];
    if (probe) {
      models.filter(ranked).forEach(function (m) {
        var k = shardOf(m, probe.shards);
        if (!shardsLoaded[k] && need.indexOf(k) < 0) { need.push(k); }
      });
    }
    ranker.loadScripts(need.map(function (k) { return config.root + probe.prefix + k + ".js"; }),
      function () {
        need.forEach(function (k) { shardsLoaded[k] = true; });
        then();
      });
  }

  // ranker.build.ranks.probe_relation's exact rule: a beats b when a has more right answers and
  // at most `limit` of the resampled differences are <= 0. The interval: the (limit+1)-th
  // smallest and largest difference (numpy's "lower" and "higher" quantiles at 2.5%, 97.5%).
  function probeTest(a, b) {
    var A = bits[a], B = bits[b];
    if (B.right > A.right) { var t = a; a = b; b = t; A = bits[a]; B = bits[b]; }
    var ra = resampledOf(a), rb = resampledOf(b);
    var n = probe.n_eval, count = ra.length, diffs = new Int32Array(count), low = 0;
    for (var i = 0; i < count; i++) {
      diffs[i] = ra[i] - rb[i];
      if (diffs[i] <= 0) { low += 1; }
    }
    diffs.sort();  // typed arrays sort numerically
    return {
      first: a, second: b, better: A.right > B.right && low <= probe.limit, nonpositive: low,
      diff: (A.right - B.right) / n, low: diffs[probe.limit] / n,
      high: diffs[count - 1 - probe.limit] / n
    };
  }
  // the 2023 rule (ranker.build.ranks.legacy_ranks): a difference above 1.96·σ·√2
  function legacyTest(a, b) {
    var va = value(byId[a], "avg"), vb = value(byId[b], "avg");
    if (vb > va) { var t = a; a = b; b = t; t = va; va = vb; vb = t; }
    var d = va - vb, th = legacy.threshold;
    return { first: a, second: b, better: d > th, diff: d, low: d - th, high: d + th };
  }

  // Each chosen model's letter (A to D, in the order chosen): the pairs name models by it.
  var letters = {};
  // Why model m has no verdict on a measure: null when it has none of that measure (the line
  // is left out when neither model has it), "" when it can be tested, else the reason.
  function probeGap(m) {
    var r = byId[m];
    if (value(r, "probe_accuracy") === null) { return null; }
    if (!ranked(m) || !bits[m]) {
      return letters[m] + "'s probe result is not comparable (another protocol or data " +
        "sample, or no per-pair answers), so it has no probe rank";
    }
    return "";
  }
  function legacyGap(m) {
    var r = byId[m];
    if (value(r, "avg") === null) { return null; }
    if (value(r, "legacy_rank") === null) {
      return letters[m] + "'s 2023 scores are flagged (" + plain(value(r, "flags")) +
        "), so it has no 2023 rank";
    }
    return "";
  }
  var LACKS = { probe: " has no result of our probe", legacy: " has no 2023 36-task average" };

  function span(cls, text) {
    var s = document.createElement("span");
    s.className = cls;
    s.textContent = text;
    return s;
  }
  function more(p, text) { p.appendChild(document.createTextNode(text)); }
  // One measure's line of the pair (a, b), or null when neither has that measure.
  function verdictLine(measure, label, a, b, gap, test, extra) {
    var ga = gap(a), gb = gap(b);
    if (ga === null && gb === null) { return null; }
    var p = document.createElement("p");
    p.className = "verdict";
    p.setAttribute("data-measure", measure);
    p.appendChild(span("measure", label + ": "));
    var why = [ga === null ? letters[a] + LACKS[measure] : ga,
               gb === null ? letters[b] + LACKS[measure] : gb].filter(Boolean);
    if (why.length) {
      p.setAttribute("data-verdict", "none");
      p.appendChild(span("na", "no test: " + why.join("; ") + "."));
      return p;
    }
    var t = test(a, b), one = letters[t.first], two = letters[t.second];
    p.setAttribute("data-verdict", t.better ? "better" : "tie");
    p.setAttribute("data-first", t.first);
    p.setAttribute("data-second", t.second);
    p.appendChild(span(t.better ? "yes" : "no", t.better ?
      one + " is significantly better than " + two + "." : "no significant difference."));
    more(p, " " + one + " − " + two + " = ");
    p.appendChild(span("diff", pct(t.diff, true)));
    more(p, " points, 95% interval [");
    p.appendChild(span("low", pct(t.low, true)));
    more(p, ", ");
    p.appendChild(span("high", pct(t.high, true)));
    more(p, "]" + extra(t, one, two) + ".");
    return p;
  }
  function probeExtra(t, one, two) {
    return "; " + one + " scored no higher than " + two + " on " +
      t.nonpositive.toLocaleString("en") + " of " + probe.resamples.toLocaleString("en") +
      " paired resamples (at most " + probe.limit + " for a significant difference)";
  }
  function legacyExtra() {
    if (missing(legacy.sigma)) { return " (the base's seed noise σ is unknown: any higher average counts)"; }
    return " (the difference ± 1.96·σ·√2 = " + fixed2(legacy.threshold, 100) + ")";
  }
  function pairHead(a, b) {
    var head = document.createElement("p");
    head.className = "pair-head";
    [a, b].forEach(function (m, i) {
      if (i) { more(head, " and "); }
      head.appendChild(span("letter", letters[m]));
      more(head, " ");
      head.appendChild(span("model", m));
    });
    return head;
  }

  function renderPairs(models) {
    pairsList.textContent = "";
    for (var i = 0; i < models.length; i++) {
      for (var j = i + 1; j < models.length; j++) {
        var a = models[i], b = models[j], li = document.createElement("li");
        li.appendChild(pairHead(a, b));
        var lines = [
          verdictLine("probe", "Our MNLI probe", a, b, probeGap, probeTest, probeExtra),
          verdictLine("legacy", "2023 36-task average", a, b, legacyGap, legacyTest, legacyExtra)
        ].filter(Boolean);
        lines.forEach(function (p) { li.appendChild(p); });
        if (!lines.length) {
          var p = document.createElement("p");
          p.className = "verdict";
          p.setAttribute("data-verdict", "none");
          p.textContent = "No measure that either has: nothing to test.";
          li.appendChild(p);
        }
        pairsList.appendChild(li);
      }
    }
    pairsBox.hidden = models.length < 2;
    document.documentElement.setAttribute("data-compare-ready", "1");
  }

  // -- the page ------------------------------------------------------------------------------
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

  function headCell(m) {
    var th = document.createElement("th");
    th.scope = "col";
    th.appendChild(span("letter", letters[m]));
    th.appendChild(document.createTextNode(" "));
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
    return th;
  }

  function render() {
    document.documentElement.removeAttribute("data-compare-ready");
    var models = chosen(), known = models.filter(function (m) { return byId[m]; });
    var unknown = models.filter(function (m) { return !byId[m]; });
    var head = table.tHead.rows[0];
    while (head.cells.length > 1) { head.deleteCell(1); }
    letters = {};
    known.forEach(function (m, i) { letters[m] = "ABCDEFGH".charAt(i); });
    known.forEach(function (m) { head.appendChild(headCell(m)); });
    table.style.setProperty("--n", Math.max(known.length, 1));
    var body = table.tBodies[0], hidden = [];
    body.textContent = "";
    LINES.forEach(function (line) {
      var cells = known.map(function (m) { return line[1](byId[m]); });
      if (known.length && cells.every(function (c) { return c === "–"; })) {
        hidden.push(line[0]);
        return;
      }
      var tr = document.createElement("tr"), th = document.createElement("th");
      th.scope = "row";
      th.textContent = line[0];
      tr.appendChild(th);
      cells.forEach(function (text) {
        var td = document.createElement("td");
        td.className = "num";
        td.textContent = text;
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    hiddenNote.hidden = !hidden.length;
    hiddenNote.textContent = hidden.length ? "Not shown, as none of these models has a value: " +
      hidden.join(", ") + "." : "";
    var text = known.length < 2 ? "Choose at least two models to compare (up to " + config.max + ")." :
      known.length + " models compared.";
    if (unknown.length) { text += " Not in this architecture's table: " + unknown.join(", ") + "."; }
    status.textContent = text;
    input.disabled = models.length >= config.max;
    drawChart(known);
    loadPairs(known, function () {
      if (known.join("\n") === chosen().filter(function (m) { return byId[m]; }).join("\n")) {
        renderPairs(known);
      }
    });
  }

  function drawChart(models) {
    var box = document.getElementById("compare-chart-box");
    var withTasks = tasks ? models.filter(function (m) { return tasks.gains[m]; }) : [];
    box.hidden = withTasks.length === 0;
    if (box.hidden || !window.Plotly) { return; }
    var traces = withTasks.map(function (m) {
      return { type: "bar", name: m, x: tasks.tasks, y: tasks.gains[m],
               hovertemplate: "%{x}: %{y:+.2f}<extra>" + ranker.esc(m) + "</extra>" };
    });
    var phone = window.matchMedia && window.matchMedia("(max-width: 640px)").matches;
    window.Plotly.newPlot("compare-chart", traces, {
      template: "none", barmode: "group", height: phone ? 380 : 440, hovermode: "closest",
      margin: { l: 50, r: 10, t: 20, b: 160 }, xaxis: { tickangle: -60, automargin: true },
      yaxis: { title: { text: "points" } }, legend: { orientation: "h", y: 1.1 },
      font: { family: "system-ui, sans-serif", size: phone ? 10 : 12 }
    }, { displaylogo: false, responsive: true, displayModeBar: !phone });
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
