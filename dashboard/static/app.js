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
  var LABELS = {
    warning: ["预警", "warning"], exceedance: ["超标", "exceedance"], severe: ["严重超标", "severe"],
    level1: ["一级报警", "level 1 alarm"], level2: ["二级报警", "level 2 alarm"], fault: ["设备故障", "device fault"],
    open: ["新告警", "open"], escalated: ["已升级", "escalated"], acknowledged: ["已确认", "acknowledged"],
    resolved: ["已解除", "resolved"], closed: ["已关闭", "closed"], new_alert: ["新告警", "New alert"]
  };
  function label(key) { var p = LABELS[key]; return p ? p[en ? 1 : 0] : key; }
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
    if (!iso) return en ? "never" : "从未";
    var s = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
    var units = [[86400, "天", "d"], [3600, "小时", "h"], [60, "分钟", "min"], [1, "秒", "s"]];
    for (var i = 0; i < units.length; i++) {
      if (s >= units[i][0] || i === units.length - 1) return Math.floor(s / units[i][0]) + " " + units[i][en ? 2 : 1];
    }
    return "";
  }

  var toastEl = document.getElementById("toast");
  function toast(ev) {
    toastEl.textContent = "";
    var a = document.createElement("a");
    a.href = "/alerts/" + ev.id;
    a.id = "toast-link";
    a.textContent = label("new_alert") + " " + ev.code + " · " + label(ev.severity) + " · " + ev.site;
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
    });
  }, 100);
  var refreshOverviewSlowly = throttle(refreshOverview, 5000);

  // ----- alert queue ------------------------------------------------------------------------------
  var queue = document.getElementById("queue");
  var refreshQueue = throttle(function () {
    getJSON("/api/alerts?" + queue.dataset.query).then(function (rows) {
      if (!rows) return;
      var tbody = document.createElement("tbody");
      rows.forEach(function (a) {
        var tr = document.createElement("tr");
        tr.className = "sev-" + a.severity;
        tr.dataset.alert = a.id;
        tr.appendChild(link("/alerts/" + a.id, a.code));
        tr.appendChild(cell(label(a.severity)));
        tr.appendChild(cell(label(a.state), "state"));
        tr.appendChild(link("/plants/" + a.site_code, en ? a.site_name_en : a.site_name_zh));
        tr.appendChild(cell(en ? a.point_name_en : a.point_name_zh));
        tr.appendChild(cell(en ? a.pollutant_en : a.pollutant_zh));
        tr.appendChild(cell(fmt(a.last_value) + " / " + fmt(a.limit_value)));
        tr.appendChild(cell(localTime(a.opened_at)));
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
        tr.querySelector(".flag").textContent = r.flag || "";
        tr.querySelector(".age").textContent = age(r.time);
        tr.classList.toggle("over", r.upper_value != null && r.value != null && r.value > r.upper_value);
      });
    });
  }, 1000);
  var SPANS = { "1h": 3600, "24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400 };
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

  // ----- live events ------------------------------------------------------------------------------
  var liveEl = document.getElementById("live");
  if (!window.EventSource) return;
  var source = new EventSource("/api/events");
  source.onopen = function () { liveEl.className = "live on"; };
  source.onerror = function () { liveEl.className = "live off"; };
  source.addEventListener("alert", function (e) {
    var ev = JSON.parse(e.data);
    if (ev.state === "open") toast(ev);
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
