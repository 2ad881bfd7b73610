// envmon dashboard: live updates over Server-Sent Events, the alert queue and plant tables, uPlot charts.
// Served from our own origin only (the page's Content-Security-Policy allows nothing else).
(function () {
  "use strict";
  var body = document.body;
  var page = body.dataset.page;
  var en = body.dataset.locale === "en";
  // Times are shown in the configured zone (settings.timezone), whatever the browser's own zone.
  var zone = body.dataset.zone || "Asia/Shanghai";
  var stamp = new Intl.DateTimeFormat("en-CA", {
    timeZone: zone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit"
  });
  function parts(date) {
    var out = {};
    stamp.formatToParts(date).forEach(function (p) { out[p.type] = p.value; });
    return out;
  }
  // Long pages fold on a phone: sections marked data-fold-narrow start closed there (open on a desk, and
  // without script), before anything draws into them; a chart drawn while folded is drawn again when opened.
  if (window.matchMedia && window.matchMedia("(max-width: 700px)").matches) {
    document.querySelectorAll("details[data-fold-narrow]").forEach(function (d) { d.open = false; });
    // A change returns to its section (/admin#chains): that one stays open.
    var target = window.location.hash && document.getElementById(window.location.hash.slice(1));
    var fold = target && (target.querySelector("details.fold") || target.closest("details.fold"));
    if (fold) fold.open = true;
  }
  // The catalogue's words that live updates need, in the page's locale (envmon.words; dashboard/render.py).
  var WORDS = JSON.parse(body.dataset.words || "{}");
  function label(kind, code) { return WORDS[kind + "." + code] || code; }
  // At most one call per `ms`, the last request never lost: ingest may notify many batches a second,
  // and a debounce would starve while they keep coming.
  function throttle(fn, ms) {
    var last = 0, timer = null;
    return function () {
      if (timer) return;
      var wait = Math.max(0, last + ms - Date.now());
      timer = setTimeout(function () { timer = null; last = Date.now(); fn(); }, wait);
    };
  }
  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } }).then(function (r) {
      if (r.status === 401) { window.location.href = "/login"; return null; }
      return r.ok ? r.json() : null;
    });
  }
  function cell(text, cls) {
    var td = document.createElement("td");
    if (cls) td.className = cls;
    td.textContent = text == null ? "" : String(text);
    return td;
  }
  function link(href, text) {
    var td = document.createElement("td"), a = document.createElement("a");
    a.href = href; a.textContent = text; td.appendChild(a); return td;
  }
  // The API already rounds values for people (envmon.numbers: the rule of the pages and the reports).
  function fmt(v) { return v == null ? "—" : String(v); }
  function localTime(iso) {
    var p = parts(new Date(iso));
    return p.year + "-" + p.month + "-" + p.day + " " + p.hour + ":" + p.minute + ":" + p.second;
  }
  function age(iso) {
    if (!iso) return label("page", "never");
    var s = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
    var units = [[86400, "day"], [3600, "hour"], [60, "minute"], [1, "second"]];
    for (var i = 0; i < units.length; i++) {
      if (s >= units[i][0] || i === units.length - 1) return Math.floor(s / units[i][0]) + " " + label("age", units[i][1]);
    }
    return "";
  }

  var toastEl = document.getElementById("toast");
  function toast(ev) {
    toastEl.textContent = "";
    var a = document.createElement("a");
    a.href = "/alerts/" + ev.id;
    a.id = "toast-link";
    a.textContent = label("page", "new_alert") + " " + ev.code + " · " + label("severity", ev.severity) + " · " + ev.site;
    toastEl.appendChild(a);
    toastEl.className = "toast sev-" + ev.severity;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(function () { toastEl.className = "toast hidden"; }, 15000);
  }

  // ----- overview ---------------------------------------------------------------------------------
  var refreshOverview = throttle(function () {
    getJSON("/api/overview").then(function (d) {
      if (!d) return;
      document.querySelectorAll("[data-severity]").forEach(function (el) {
        el.textContent = d.open_alerts_by_severity[el.dataset.severity] || 0;
      });
      d.plants.forEach(function (p) {
        document.querySelectorAll('[data-site="' + p.code + '"]').forEach(function (el) {
          el.classList.remove("status-alarm", "status-warning", "status-fault", "status-ok");
          el.classList.add("status-" + p.status);
          var open = el.querySelector(".open"), off = el.querySelector(".offline");
          if (open) open.textContent = p.open_alerts;
          if (off) off.textContent = p.devices_offline;
        });
      });
      if (map) layoutMap();
    });
  }, 100);
  var refreshOverviewSlowly = throttle(refreshOverview, 5000);

  // ----- district map: zoom, pan, clusters coloured by their worst plant, labels that never overlap ----------
  var map = document.getElementById("district-map");
  var STATUS_RANK = { alarm: 0, warning: 1, fault: 2, ok: 3 };
  var TILE_PX = 18, CLUSTER_PX = 26, LABEL_PX = 11;
  function tileStatus(a) {
    var m = /status-(\w+)/.exec(a.getAttribute("class"));
    return m ? m[1] : "ok";
  }
  function mapView() {
    var b = map.viewBox.baseVal;
    return { x: b.x, y: b.y, w: b.width, h: b.height };
  }
  function setView(v) {
    var fullW = Number(map.dataset.width), fullH = Number(map.dataset.height);
    var w = Math.min(fullW, Math.max(fullW / 40, v.w)), h = w * fullH / fullW;
    var x = Math.min(Math.max(v.x + (v.w - w) / 2, -fullW * 0.1), fullW * 1.1 - w);
    var y = Math.min(Math.max(v.y + (v.h - h) / 2, -fullH * 0.1), fullH * 1.1 - h);
    map.setAttribute("viewBox", [x, y, w, h].join(" "));
    map.dataset.zoom = (fullW / w).toFixed(2);
    layoutMap();
  }
  function zoomAt(factor, cx, cy) {
    var v = mapView(), w = v.w / factor, h = v.h / factor;
    // The point under the cursor (or the centre) stays where it is.
    var px = cx == null ? v.x + v.w / 2 : cx, py = cy == null ? v.y + v.h / 2 : cy;
    setView({ x: px - (px - v.x) / factor - (v.w / factor - w) / 2, y: py - (py - v.y) / factor - (v.h / factor - h) / 2, w: w, h: h });
  }
  function toMap(clientX, clientY) {
    var r = map.getBoundingClientRect(), v = mapView();
    return { x: v.x + (clientX - r.left) / r.width * v.w, y: v.y + (clientY - r.top) / r.height * v.h };
  }
  function svgEl(name, attrs) {
    var el = document.createElementNS("http://www.w3.org/2000/svg", name);
    Object.keys(attrs).forEach(function (k) { el.setAttribute(k, attrs[k]); });
    return el;
  }
  // Greedy clustering in screen pixels, worst plants first, so a cluster's seed is its worst plant. An alarm
  // clusters only with alarms: it is never folded into a group of quiet plants, always its own red tile on top.
  function clusters(tiles, unit) {
    var items = tiles.map(function (a) {
      return { el: a, x: Number(a.dataset.x), y: Number(a.dataset.y), status: tileStatus(a) };
    }).sort(function (p, q) { return STATUS_RANK[p.status] - STATUS_RANK[q.status] || (p.el.dataset.site < q.el.dataset.site ? -1 : 1); });
    var out = [];
    items.forEach(function (it) {
      for (var i = 0; i < out.length; i++) {
        var c = out[i];
        if ((c.status === "alarm") !== (it.status === "alarm")) continue;
        if (Math.abs(c.x - it.x) < CLUSTER_PX * unit && Math.abs(c.y - it.y) < CLUSTER_PX * unit) { c.members.push(it); return; }
      }
      out.push({ x: it.x, y: it.y, status: it.status, members: [it] });
    });
    return out;
  }
  function overlaps(box, boxes) {
    return boxes.some(function (b) { return box.x < b.x + b.w && b.x < box.x + box.w && box.y < b.y + b.h && b.y < box.y + box.h; });
  }
  function layoutMap() {
    var v = mapView(), unit = v.w / Math.max(1, map.getBoundingClientRect().width);  // map units per screen px
    var tiles = Array.prototype.slice.call(map.querySelectorAll("a.tile"));
    // Three layers, bottom to top: clusters, tiles, then every alarm (tile or cluster of alarms).
    var layer = map.querySelector("g.clusters"), tileLayer = map.querySelector("g.tiles"), top = map.querySelector("g.top");
    layer.textContent = "";
    Array.prototype.slice.call(top.querySelectorAll("g.cluster")).forEach(function (g) { top.removeChild(g); });
    var groups = clusters(tiles, unit), shapes = [], alarms = [], labels = [], shown = 0;
    // Boxes of what is drawn, so labels go where nothing else is. An alarm's label (placed first, drawn on
    // top) only has to miss other labels and alarms: it may lie over quiet plants.
    groups.forEach(function (c) {
      var size = (c.members.length > 1 ? CLUSTER_PX : TILE_PX) * unit;
      var box = { x: c.x - size / 2, y: c.y - size / 2, w: size, h: size };
      shapes.push(box);
      if (c.status === "alarm") alarms.push(box);
    });
    groups.forEach(function (c) {
      var single = c.members.length === 1;
      c.members.forEach(function (m) {
        if (single) m.el.removeAttribute("data-clustered"); else m.el.setAttribute("data-clustered", "1");
        var half = TILE_PX * unit / 2, rect = m.el.querySelector("rect"), text = m.el.querySelector("text");
        rect.setAttribute("x", m.x - half); rect.setAttribute("y", m.y - half);
        rect.setAttribute("width", 2 * half); rect.setAttribute("height", 2 * half); rect.setAttribute("rx", half / 2);
        text.setAttribute("font-size", LABEL_PX * unit);
        text.setAttribute("visibility", "hidden");
        if (!single) return;
        shown++;
        // Below, above, right, left of the tile, then the corners: the first place free of what is drawn.
        var width = (text.textContent.length * 0.62 + 0.4) * LABEL_PX * unit, height = 1.2 * LABEL_PX * unit;
        var right = half + width / 2 + 2 * unit, below = half + height * 0.9, above = -half - height * 0.25;
        var spots = [[0, below], [0, above], [right, height * 0.35], [-right, height * 0.35],
                     [right, below], [-right, below], [right, above], [-right, above]];
        var obstacles = labels.concat(c.status === "alarm" ? alarms.filter(function (b) {
          return Math.abs(b.x + b.w / 2 - m.x) > 1e-6 || Math.abs(b.y + b.h / 2 - m.y) > 1e-6;
        }) : shapes);
        for (var i = 0; i < spots.length; i++) {
          var tx = m.x + spots[i][0], ty = m.y + spots[i][1];
          var box = { x: tx - width / 2, y: ty - height * 0.85, w: width, h: height };
          if (!overlaps(box, obstacles)) {
            labels.push(box);
            text.setAttribute("x", tx); text.setAttribute("y", ty); text.setAttribute("visibility", "visible");
            break;
          }
        }
      });
      if (single) return;
      var r = CLUSTER_PX * unit / 2;
      var g = svgEl("g", { "class": "cluster status-" + c.status, tabindex: "0", role: "button",
        "aria-label": c.members.length + " " + map.dataset.clusterLabel, "data-count": String(c.members.length) });
      var title = svgEl("title", {});
      title.textContent = c.members.map(function (m) { return m.el.dataset.site; }).join(", ");
      g.appendChild(title);
      g.appendChild(svgEl("circle", { cx: c.x, cy: c.y, r: r }));
      var label = svgEl("text", { x: c.x, y: c.y + 0.36 * LABEL_PX * unit, "font-size": LABEL_PX * unit });
      label.textContent = String(c.members.length);
      g.appendChild(label);
      var open = function () {
        var xs = c.members.map(function (m) { return m.x; }), ys = c.members.map(function (m) { return m.y; });
        var x0 = Math.min.apply(null, xs), x1 = Math.max.apply(null, xs), y0 = Math.min.apply(null, ys), y1 = Math.max.apply(null, ys);
        var w = Math.max((x1 - x0) * 3, (y1 - y0) * 3 * v.w / v.h, v.w / 3);
        setView({ x: (x0 + x1) / 2 - w / 2, y: (y0 + y1) / 2 - w * v.h / v.w / 2, w: w, h: w * v.h / v.w });
      };
      g.addEventListener("click", open);
      g.addEventListener("keydown", function (e) { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); open(); } });
      (c.status === "alarm" ? top : layer).appendChild(g);
    });
    // Worst drawn last (on top), among the clusters and among the tiles; the tiles lie above the clusters.
    Array.prototype.slice.call(layer.childNodes).sort(function (p, q) {
      return STATUS_RANK[tileStatus(q)] - STATUS_RANK[tileStatus(p)];
    }).forEach(function (el) { layer.appendChild(el); });
    tiles.sort(function (p, q) { return STATUS_RANK[tileStatus(q)] - STATUS_RANK[tileStatus(p)]; })
      .forEach(function (el) { (tileStatus(el) === "alarm" ? top : tileLayer).appendChild(el); });
    map.dataset.clusters = String(map.querySelectorAll("g.cluster").length);
    map.dataset.single = String(shown);
  }
  if (map) {
    var full = { x: 0, y: 0, w: Number(map.dataset.width), h: Number(map.dataset.height) };
    document.getElementById("map-zoom-in").addEventListener("click", function () { zoomAt(2); });
    document.getElementById("map-zoom-out").addEventListener("click", function () { zoomAt(0.5); });
    document.getElementById("map-reset").addEventListener("click", function () { setView(full); });
    map.addEventListener("wheel", function (e) {
      e.preventDefault();
      var p = toMap(e.clientX, e.clientY);
      zoomAt(e.deltaY < 0 ? 1.25 : 0.8, p.x, p.y);
    }, { passive: false });
    // Drag to pan; two fingers pinch to zoom. A short press is still a click on a plant.
    var pointers = {}, moved = 0, lastPinch = 0;
    map.addEventListener("pointerdown", function (e) { pointers[e.pointerId] = { x: e.clientX, y: e.clientY }; moved = 0; });
    map.addEventListener("pointermove", function (e) {
      var prev = pointers[e.pointerId];
      if (!prev) return;
      var ids = Object.keys(pointers);
      if (ids.length === 2) {
        var other = pointers[ids[0] === String(e.pointerId) ? ids[1] : ids[0]];
        var d = Math.hypot(e.clientX - other.x, e.clientY - other.y);
        if (lastPinch) { var mid = toMap((e.clientX + other.x) / 2, (e.clientY + other.y) / 2); zoomAt(d / lastPinch, mid.x, mid.y); }
        lastPinch = d;
      } else {
        var r = map.getBoundingClientRect(), v = mapView();
        var dx = (e.clientX - prev.x) / r.width * v.w, dy = (e.clientY - prev.y) / r.height * v.h;
        moved += Math.abs(e.clientX - prev.x) + Math.abs(e.clientY - prev.y);
        if (moved > 4) setView({ x: v.x - dx, y: v.y - dy, w: v.w, h: v.h });
      }
      pointers[e.pointerId] = { x: e.clientX, y: e.clientY };
    });
    var release = function (e) { delete pointers[e.pointerId]; lastPinch = 0; };
    map.addEventListener("pointerup", release);
    map.addEventListener("pointercancel", release);
    map.addEventListener("click", function (e) { if (moved > 4) { e.preventDefault(); moved = 0; } }, true);
    window.addEventListener("resize", throttle(layoutMap, 200));
    layoutMap();
  }

  // ----- alert queue ------------------------------------------------------------------------------
  var queue = document.getElementById("queue");
  var refreshQueue = throttle(function () {
    getJSON("/api/alerts?" + queue.dataset.query).then(function (rows) {
      if (!rows) return;
      var tbody = document.createElement("tbody");
      // Each cell names its column: on a phone the rows are cards (app.css) and the label stands before the value.
      var names = JSON.parse(queue.dataset.labels || "{}");
      function labelled(td, key) { td.dataset.label = names[key] || ""; return td; }
      rows.forEach(function (a) {
        var tr = document.createElement("tr");
        tr.className = "sev-" + a.severity;
        tr.dataset.alert = a.id;
        tr.appendChild(labelled(link("/alerts/" + a.id, a.code), "id"));
        tr.appendChild(labelled(cell(label("severity", a.severity)), "severity"));
        tr.appendChild(labelled(cell(label("state", a.state), "state"), "state"));
        tr.appendChild(labelled(link("/plants/" + a.site_code, en ? a.site_name_en : a.site_name_zh), "plant"));
        tr.appendChild(labelled(cell(en ? a.point_name_en : a.point_name_zh), "device"));
        // As the page renders it: a device alert names its fault; "*" (every pollutant) is not a word.
        var what = a.pollutant === "*" ? [] : [en ? a.pollutant_en : a.pollutant_zh];
        if (a.category === "device") what.push(label("rule", a.rule));
        tr.appendChild(labelled(cell(what.join(" · ")), "pollutant"));
        tr.appendChild(labelled(cell(fmt(a.last_value) + " / " + fmt(a.limit_value)), "value"));
        tr.appendChild(labelled(cell(localTime(a.opened_at)), "opened_at"));
        tbody.appendChild(tr);
      });
      queue.replaceChild(tbody, queue.tBodies[0]);
    });
  }, 100);

  // ----- plant: latest values and charts ----------------------------------------------------------
  var plantEl = document.getElementById("plant");
  var range = "24h";
  var charts = [];
  var refreshLatest = throttle(function () {
    getJSON("/api/plants/" + encodeURIComponent(plantEl.dataset.site)).then(function (d) {
      if (!d) return;
      d.readings.forEach(function (r) {
        var tr = document.querySelector('#latest tr[data-device="' + r.device_id + '"][data-pollutant="' + r.pollutant + '"]');
        if (!tr) return;
        tr.querySelector(".value").textContent = fmt(r.value);
        // The flag after data review, and the review mark's reason when one covers the value (as the page renders it).
        tr.querySelector(".flag").textContent = (r.flag || "") + (r.mark_reason ? " · " + label("mark_reason", r.mark_reason) : "");
        tr.querySelector(".age").textContent = age(r.time);
        tr.classList.toggle("over", r.upper_value != null && r.value != null && r.value > r.upper_value);
      });
    });
  }, 1000);
  var SPANS = { "1h": 3600, "24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400, "365d": 365 * 86400 };
  var compare = false;
  // Ticks show the date once the visible span (after a zoom, too) passes a day.
  function tickLabel(u, seconds) {
    var p = parts(new Date(seconds * 1000));
    var hm = p.hour + ":" + p.minute;
    return u.scales.x.max - u.scales.x.min > 86400 ? Number(p.month) + "/" + Number(p.day) + " " + hm : hm;
  }
  // The lower tier (warning line, gas level 1) dashed amber, the upper tier (limit, gas level 2) red.
  var LINE_STYLES = {
    warning: { colour: "#d29922", dash: [6, 4] }, level1: { colour: "#d29922", dash: [6, 4] },
    limit: { colour: "#cf222e", dash: [2, 2] }, level2: { colour: "#cf222e", dash: [] }
  };
  // Limit and warning as horizontal lines across the whole plot, drawn after the series; the breach as a
  // vertical line.
  function overlay(lines, breach) {
    return function (u) {
      var ctx = u.ctx;
      ctx.save();
      ctx.lineWidth = 1.5 * devicePixelRatio;
      lines.forEach(function (line) {
        var y = u.valToPos(line.value, "y", true);
        ctx.strokeStyle = line.colour;
        ctx.setLineDash(line.dash);
        ctx.beginPath();
        ctx.moveTo(u.bbox.left, y);
        ctx.lineTo(u.bbox.left + u.bbox.width, y);
        ctx.stroke();
      });
      if (breach != null && breach >= u.scales.x.min && breach <= u.scales.x.max) {
        var x = u.valToPos(breach, "x", true);
        ctx.strokeStyle = "#82071e";
        ctx.setLineDash([4, 3]);
        ctx.beginPath();
        ctx.moveTo(x, u.bbox.top);
        ctx.lineTo(x, u.bbox.top + u.bbox.height);
        ctx.stroke();
      }
      ctx.restore();
    };
  }
  function chartLines(fig) {
    // The limit's lines as the server computed them (envmon.limit_lines, the same as the report's chart).
    return JSON.parse(fig.dataset.lines || "[]").map(function (l) {
      var style = LINE_STYLES[l.kind] || LINE_STYLES.limit;
      return { value: Number(l.value), colour: style.colour, dash: style.dash };
    });
  }
  // The x range is left to uPlot: it fits the data (a fresh plant's hour of readings fills the plot instead of
  // being a dot at the right edge), dragging zooms in, a double click zooms back out.
  function plot(fig, data, series, breach) {
    var holder = fig.querySelector(".plot");
    var width = Math.max(280, holder.clientWidth || 420);
    var lines = chartLines(fig);
    var opts = {
      width: width, height: 180, legend: { show: series.length > 1 },
      tzDate: function (ts) { return window.uPlot.tzDate(new Date(ts * 1000), zone); },
      cursor: { drag: { x: true, y: false, setScale: true } },
      series: [{}].concat(series),
      scales: {
        x: { time: true },
        y: { range: function (u, min, max) {
          var values = lines.map(function (l) { return l.value; }).concat([min, max]).filter(isFinite);
          var lo = Math.min.apply(null, values.concat([0])), hi = Math.max.apply(null, values.concat([1e-9]));
          return [lo, hi * 1.1];
        } }
      },
      axes: [{ values: function (u, splits) { return splits.map(function (v) { return tickLabel(u, v); }); } },
             { label: fig.dataset.unit || "" }],
      hooks: { draw: [overlay(lines, breach)], setSelect: [function () { fig._zoomed = true; }] }
    };
    if (fig._plot) fig._plot.destroy();
    holder.textContent = "";
    fig._plot = new window.uPlot(opts, data, holder);
    holder.ondblclick = function () { fig._zoomed = false; };
    fig.dataset.points = String(data[0].length);
  }
  var VALUE_SERIES = { stroke: "#1f6feb", width: 1.5, fill: "rgba(31,111,235,0.08)" };
  var PREVIOUS_SERIES = { stroke: "#6e7781", width: 1.2, dash: [5, 3] };
  function seriesUrl(ds, back) {
    return "/api/plants/" + encodeURIComponent(ds.site) + "/series?device_id=" + ds.device +
      "&pollutant=" + encodeURIComponent(ds.pollutant) + "&range=" + range + (back ? "&periods_back=" + back : "");
  }
  function drawChart(fig) {
    var ds = fig.dataset;
    var now = getJSON(seriesUrl(ds, 0));
    var before = compare ? getJSON(seriesUrl(ds, 1)) : Promise.resolve(null);
    Promise.all([now, before]).then(function (got) {
      var s = got[0], p = got[1];
      if (!s) return;
      var current = Object.assign({ label: ds.labelValue }, VALUE_SERIES);
      if (!p) { plot(fig, [s.t, s.avg], [current], null); return; }
      // The period before, moved forward by one range so both lie over the same stretch of the axis.
      var shifted = p.t.map(function (t) { return t + SPANS[range]; });
      var joined = window.uPlot.join([[s.t, s.avg], [shifted, p.avg]]);
      plot(fig, joined, [current, Object.assign({ label: ds.labelPrevious }, PREVIOUS_SERIES)], null);
      fig.dataset.previousPoints = String(p.t.length);
    });
  }
  var lastCharts = 0;
  function refreshCharts(force) {
    // Readings arrive every few seconds; the minute aggregate changes once a minute, so charts need less.
    if (!force && Date.now() - lastCharts < 10000) return;
    var fold = document.getElementById("charts-fold");
    if (fold && !fold.open) return;  // folded on a phone: drawn when opened
    // A zoomed chart stays as the person left it until they zoom out or change the range.
    lastCharts = Date.now();
    charts.forEach(function (fig) { if (force || !fig._zoomed) drawChart(fig); });
  }
  if (plantEl && window.uPlot) {
    charts = Array.prototype.slice.call(document.querySelectorAll("figure.chart"));
    refreshCharts(true);
    document.querySelectorAll("button.range").forEach(function (b) {
      b.addEventListener("click", function () {
        range = b.dataset.range;
        document.querySelectorAll("button.range").forEach(function (o) {
          o.classList.toggle("here", o === b);
          o.setAttribute("aria-pressed", String(o === b));
        });
        refreshCharts(true);
      });
    });
    var chartsFold = document.getElementById("charts-fold");
    if (chartsFold) chartsFold.addEventListener("toggle", function () { if (chartsFold.open) refreshCharts(true); });
    var compareBox = document.getElementById("compare");
    if (compareBox) compareBox.addEventListener("change", function () { compare = compareBox.checked; refreshCharts(true); });
  }
  var incident = document.getElementById("incident");
  if (incident && window.uPlot) {
    getJSON("/api/alerts/" + incident.dataset.alert + "/series").then(function (s) {
      if (!s) return;
      plot(incident, [s.t, s.value], [Object.assign({ label: incident.dataset.labelValue }, VALUE_SERIES)], s.opened_at);
    });
  }

  // ----- attention: opt-in sound and browser notification for level-2 gas alarms and severe exceedances ----
  // Only while a dashboard page is open; the choice is kept in this browser. Sound is synthesised (no file,
  // nothing fetched); browsers let it play only after a click, so the opt-in click also unlocks it.
  var URGENT = { level2: true, severe: true };
  var attentionEl = document.getElementById("attention");
  var audio = null, heard = {};
  body.dataset.attentionCount = "0";
  function attentionOn() { return window.localStorage && localStorage.getItem("envmon.attention") === "on"; }
  function showAttention() {
    var on = attentionOn();
    attentionEl.setAttribute("aria-pressed", String(on));
    attentionEl.classList.toggle("on", on);
    var blocked = on && window.Notification && Notification.permission === "denied";
    attentionEl.textContent = blocked ? attentionEl.dataset.blocked : (on ? attentionEl.dataset.on : attentionEl.dataset.off);
  }
  function beep() {
    var Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return;
    audio = audio || new Ctx();
    if (audio.state === "suspended") audio.resume();
    [0, 0.35, 0.7].forEach(function (at) {
      var osc = audio.createOscillator(), gain = audio.createGain();
      osc.frequency.value = 880;
      gain.gain.value = 0.2;
      osc.connect(gain); gain.connect(audio.destination);
      osc.start(audio.currentTime + at); osc.stop(audio.currentTime + at + 0.2);
    });
  }
  function attend(ev) {
    var key = ev.id + ":" + ev.severity;
    if (!attentionOn() || !URGENT[ev.severity] || (ev.state !== "open" && ev.state !== "escalated") || heard[key]) return;
    heard[key] = true;
    beep();
    var text = label("severity", ev.severity) + " · " + ev.code + " · " + (ev.site || "");
    if (window.Notification && Notification.permission === "granted") {
      var n = new Notification(text, { tag: "envmon-" + ev.id, requireInteraction: true });
      n.onclick = function () { window.focus(); window.location.href = "/alerts/" + ev.id; };
    }
    body.dataset.attentionCount = String(Number(body.dataset.attentionCount) + 1);
    body.dataset.attentionLast = ev.code;
  }
  if (attentionEl) {
    showAttention();
    attentionEl.addEventListener("click", function () {
      var on = !attentionOn();
      localStorage.setItem("envmon.attention", on ? "on" : "off");
      if (on) {
        beep();  // inside the click: unlocks sound for this page
        if (window.Notification && Notification.permission === "default") Notification.requestPermission().then(showAttention);
      }
      showAttention();
    });
  }

  // ----- scrolling cards: a card too wide for the screen scrolls, so a keyboard must be able to reach it ----
  function focusableScrollers() {
    document.querySelectorAll("main .card").forEach(function (card) {
      if (card.scrollWidth > card.clientWidth + 1) {
        card.tabIndex = 0;
        card.setAttribute("role", "region");
        var h = card.querySelector("h1, h2");
        if (h && !card.getAttribute("aria-label")) card.setAttribute("aria-label", h.textContent.trim());
      } else if (card.getAttribute("role") === "region") {
        card.removeAttribute("tabindex");
        card.removeAttribute("role");
      }
    });
  }
  focusableScrollers();
  window.addEventListener("resize", throttle(focusableScrollers, 300));

  // ----- one submission per click: a double click (or Enter pressed twice) posts a form once; its buttons are
  // disabled until the answer arrives (the server also answers a repeat with what already happened).
  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (e.defaultPrevented || !(form instanceof HTMLFormElement) || form.target) return;  // handled, or elsewhere
    if ((form.getAttribute("method") || "").toLowerCase() !== "post") return;
    if (form.dataset.sent) { e.preventDefault(); return; }
    form.dataset.sent = "1";
    // After this event: a submit button disabled now would leave its own name=value out of what is sent.
    setTimeout(function () {
      form.querySelectorAll("button, input[type=submit]").forEach(function (b) {
        b.disabled = true;
        b.setAttribute("aria-busy", "true");
      });
    }, 0);
  });
  // A page shown again from the back/forward cache: its forms may be sent again.
  window.addEventListener("pageshow", function (e) {
    if (!e.persisted) return;
    document.querySelectorAll("form[data-sent]").forEach(function (form) {
      delete form.dataset.sent;
      form.querySelectorAll("[aria-busy]").forEach(function (b) { b.disabled = false; b.removeAttribute("aria-busy"); });
    });
  });

  // ----- live events ------------------------------------------------------------------------------
  var liveEl = document.getElementById("live");
  if (!window.EventSource) return;
  var source = new EventSource("/api/events");
  source.onopen = function () { liveEl.className = "live on"; };
  source.onerror = function () { liveEl.className = "live off"; };
  source.addEventListener("alert", function (e) {
    var ev = JSON.parse(e.data);
    if (ev.state === "open") toast(ev);
    attend(ev);
    if (page === "overview") refreshOverview();
    if (page === "alerts") refreshQueue();
    if (page === "alert" && String(ev.id) === document.getElementById("alert").dataset.alert) window.location.reload();
  });
  source.addEventListener("readings", function (e) {
    var ev = JSON.parse(e.data);
    if (page === "overview") refreshOverviewSlowly();
    if (page === "plant" && ev.sites.indexOf(plantEl.dataset.site) >= 0) { refreshLatest(); refreshCharts(false); }
  });
})();
