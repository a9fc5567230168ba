/* The "why is my model not here?" page: loads the row chunks (missing/<k>.js, each calling
   rankerMissing(k, rows)) and shows the models whose id contains what is typed. Text goes in
   with textContent only: model ids and reasons are never parsed as HTML. The loader is
   ranker.js's (window.ranker). */
(function () {
  "use strict";
  var SHOWN = 200;
  var config = JSON.parse(document.getElementById("missing-data").textContent);
  var input = document.getElementById("missing-q");
  var status = document.getElementById("missing-status");
  var body = document.querySelector("#missing-table tbody");
  var rows = [];
  var f = {};
  config.fields.forEach(function (name, i) { f[name] = i; });

  function cell(tr, text, title) {
    var td = document.createElement("td");
    td.textContent = text;
    if (title) { td.title = title; }
    tr.appendChild(td);
  }

  function show() {
    var q = input.value.trim().toLowerCase(), hits = [];
    for (var i = 0; i < rows.length && hits.length <= SHOWN; i++) {
      if (!q || rows[i][f.model_id].toLowerCase().indexOf(q) !== -1) { hits.push(rows[i]); }
    }
    body.textContent = "";
    hits.slice(0, SHOWN).forEach(function (r) {
      var tr = document.createElement("tr");
      cell(tr, r[f.model_id]);
      cell(tr, r[f.architecture]);
      cell(tr, r[f.status]);
      cell(tr, r[f.why], r[f.detail]);
      cell(tr, r[f.advice]);
      body.appendChild(tr);
    });
    var more = hits.length > SHOWN ? " (the first " + SHOWN + " shown: type more of the id)" : "";
    function models(n) { return n === 1 ? "1 model" : n + " models"; }
    status.textContent = q
      ? (hits.length ? (hits.length > SHOWN ? "More than " + SHOWN + " matching models"
         : models(hits.length).replace("model", "matching model")) + more + "."
         : "No catalogued model matches “" + input.value +
         "”: the crawler has not found it (see above).")
      : models(rows.length) + more + ".";
  }

  var q = new URLSearchParams(window.location.search).get("q");
  if (q) { input.value = q; }
  input.addEventListener("input", show);
  if (!config.chunks.length) { return; }
  // chunk k (1, 2, ...) is config.chunks[k - 1]
  window.ranker.loadChunks(config.root, config.chunks, 1, "rankerMissing", function (all, failed) {
    rows = all;
    show();
    if (failed) { status.textContent += " " + failed + " part(s) of the list failed to load."; }
  });
})();
