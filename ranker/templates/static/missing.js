/* The "why is my model not here?" page: loads the row chunks (missing/<k>.js, each calling
   rankerMissing(k, rows)) and shows the models whose id contains what is typed: a model on the
   site with its rank and page, a catalogued one without a score with its reason, and for an id
   found nowhere the request form, prefilled (when the build knows the repository). Text goes in
   with textContent only: model ids and reasons are never parsed as HTML. The loader is
   ranker.js's (window.ranker). */
(function () {
  "use strict";
  var SHOWN = 200;
  var config = JSON.parse(document.getElementById("missing-data").textContent);
  var input = document.getElementById("missing-q");
  var status = document.getElementById("missing-status");
  var body = document.querySelector("#missing-table tbody");
  var labels = Array.prototype.map.call(
    document.querySelectorAll("#missing-table thead th"), function (th) { return th.textContent; });
  var rows = [];
  var f = {};
  config.fields.forEach(function (name, i) { f[name] = i; });

  function link(text, href) {
    var a = document.createElement("a");
    a.textContent = text;
    a.href = href;
    return a;
  }

  // a table cell; `label`: its column's name, shown before it on a phone (style.css)
  function cell(tr, content, title) {
    var td = document.createElement("td");
    td.setAttribute("data-label", labels[tr.children.length] || "");
    (Array.isArray(content) ? content : [content]).forEach(function (c) {
      if (c) { td.appendChild(typeof c === "string" ? document.createTextNode(c) : c); }
    });
    if (title) { td.title = title; }
    tr.appendChild(td);
  }

  function requestLink(id, text) {
    return config.request ? link(text, config.request + encodeURIComponent(id)) : null;
  }

  function owner(r) {
    if (r[f.page] && r[f.status] === "ranked") { return [link(r[f.advice], config.root + r[f.page])]; }
    if (r[f.status] === "not ranked") {
      var ask = requestLink(r[f.model_id], "Ask for an evaluation");
      return ask ? [ask, "."] : [r[f.advice]];
    }
    return [r[f.advice]];
  }

  function addRow(r) {
    var tr = document.createElement("tr");
    cell(tr, r[f.page] ? link(r[f.model_id], config.root + r[f.page]) : r[f.model_id]);
    cell(tr, r[f.architecture]);
    cell(tr, r[f.status]);
    cell(tr, r[f.why], r[f.detail]);
    cell(tr, owner(r));
    body.appendChild(tr);
  }

  function models(n) { return n === 1 ? "1 model" : n + " models"; }

  // the status line: a count, what an exactly typed id is, or the way to ask for one not found
  function say(q, hits) {
    status.textContent = "";
    var parts;
    var exact = hits.filter(function (r) { return r[f.model_id].toLowerCase() === q; });
    if (!q) {
      parts = [models(rows.length) + (rows.length > SHOWN ? " (the first " + SHOWN +
        " shown: type part of an id)" : "") + "."];
    } else if (exact.length) {
      parts = [];
      exact.forEach(function (r) {
        // a listed model's reason starts with its status ("ranked #3 ...", "listed ...")
        parts.push(r[f.model_id] + " (" + r[f.architecture] + "): " +
          (r[f.page] ? "" : r[f.status] + ": ") + r[f.why] + ". ");
        if (r[f.page]) { parts.push(link("Its page", config.root + r[f.page]), ". "); }
      });
    } else if (hits.length) {
      parts = [(hits.length > SHOWN ? "More than " + SHOWN + " matching models (the first " +
        SHOWN + " shown: type more of the id)" : models(hits.length).replace("model",
        "matching model")) + "."];
    } else {
      var typed = input.value.trim();
      var ask = requestLink(typed, "Ask for an evaluation of " + typed);
      parts = ["No model on the site or in the catalogue matches “" + typed +
        "”: the crawler has not found it (see above). "];
      parts.push(ask ? ask : "Ask for it with the “Ask for an evaluation” issue form of this " +
        "site's repository");
      parts.push(".");
    }
    parts.forEach(function (p) {
      status.appendChild(typeof p === "string" ? document.createTextNode(p) : p);
    });
  }

  function show() {
    var q = input.value.trim().toLowerCase(), hits = [];
    for (var i = 0; i < rows.length && hits.length <= SHOWN; i++) {
      if (!q || rows[i][f.model_id].toLowerCase().indexOf(q) !== -1) { hits.push(rows[i]); }
    }
    // an exact id first, however far down the order
    if (q && !hits.some(function (r) { return r[f.model_id].toLowerCase() === q; })) {
      rows.forEach(function (r) { if (r[f.model_id].toLowerCase() === q) { hits.unshift(r); } });
    }
    body.textContent = "";
    hits.slice(0, SHOWN).forEach(addRow);
    body.parentNode.hidden = !hits.length;  // no empty table under "not found"
    say(q, hits);
    remember(input.value.trim());
  }

  // the search in the address (?q=), so that a link shared or "back" from a model's page
  // shows it again
  function remember(text) {
    try {
      var url = new URL(window.location.href);
      if (text) { url.searchParams.set("q", text); } else { url.searchParams.delete("q"); }
      window.history.replaceState(null, "", url.href);
    } catch (e) { /* a browser that refuses it: the search still works */ }
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
