// Sorting and filtering for the leaderboard tables (<table data-ue-table>) that
// uebench/site/html_table.py writes. Plain JavaScript, no library, no network.
(function () {
  "use strict";

  function sortValue(cell) {
    var key = cell.getAttribute("data-sort");
    return key === null ? null : parseFloat(key);
  }

  function compare(a, b) {
    var x = sortValue(a), y = sortValue(b);
    if (x !== null && y !== null) return x - y;
    if (x !== null) return -1;
    if (y !== null) return 1;
    return a.textContent.localeCompare(b.textContent);
  }

  function sortBy(table, column, header) {
    var body = table.tBodies[0];
    var ascending = header.getAttribute("aria-sort") !== "ascending";
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (r, s) {
      var order = compare(r.cells[column], s.cells[column]);
      return ascending ? order : -order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
      th.removeAttribute("aria-sort");
    });
    header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
  }

  function applyFilters(table, controls, count) {
    var rows = table.tBodies[0].rows, shown = 0;
    var text = controls.text.value.trim().toLowerCase();
    Array.prototype.forEach.call(rows, function (row) {
      var keep = controls.menus.every(function (menu) {
        return menu.select.value === "" || row.cells[menu.column].textContent === menu.select.value;
      }) && (text === "" || row.textContent.toLowerCase().indexOf(text) !== -1);
      row.hidden = !keep;
      if (keep) shown += 1;
    });
    count.textContent = shown + " of " + rows.length + " rows";
  }

  function setup(table) {
    if (table.getAttribute("data-ready")) return;
    table.setAttribute("data-ready", "1");
    var headers = Array.prototype.slice.call(table.tHead.rows[0].cells);
    var names = headers.map(function (th) { return th.textContent; });
    headers.forEach(function (th, column) {
      th.classList.add("ue-sortable");
      th.setAttribute("title", "sort by " + th.textContent);
      th.addEventListener("click", function () { sortBy(table, column, th); });
    });
    var bar = document.createElement("div");
    bar.className = "ue-filters";
    bar.setAttribute("data-for", table.getAttribute("data-ue-table"));
    var controls = { menus: [], text: document.createElement("input") };
    var wanted = (table.getAttribute("data-filters") || "").split(",").filter(Boolean);
    wanted.forEach(function (name) {
      var column = names.indexOf(name);
      if (column < 0) return;
      var values = {};
      Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
        values[row.cells[column].textContent] = true;
      });
      var select = document.createElement("select");
      select.setAttribute("aria-label", "filter by " + name);
      select.setAttribute("data-filter", name);
      select.appendChild(new Option("all " + name, ""));
      Object.keys(values).sort().forEach(function (v) { select.appendChild(new Option(v, v)); });
      controls.menus.push({ column: column, select: select });
      bar.appendChild(select);
    });
    controls.text.type = "search";
    controls.text.placeholder = "filter rows";
    controls.text.setAttribute("aria-label", "filter rows by text");
    bar.appendChild(controls.text);
    var count = document.createElement("span");
    count.className = "ue-count";
    bar.appendChild(count);
    var update = function () { applyFilters(table, controls, count); };
    controls.menus.forEach(function (menu) { menu.select.addEventListener("change", update); });
    controls.text.addEventListener("input", update);
    var anchor = table.closest(".md-typeset__scrollwrap") || table;
    anchor.parentNode.insertBefore(bar, anchor);
    update();
  }

  function setupAll() {
    Array.prototype.forEach.call(document.querySelectorAll("table[data-ue-table]"), setup);
  }

  if (typeof document$ !== "undefined") {
    document$.subscribe(setupAll);  // Material's page-load stream
  } else if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setupAll);
  } else {
    setupAll();
  }
})();
