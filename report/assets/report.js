// zerodown report timeline: draws ZD (lanes of [from, to, class, detail]
// in milliseconds since ZD.start) as SVG; zoom, pan, filter and hover.
(function () {
  "use strict";
  const LABEL = 300, ROW = 16, GROUP = 20, AXIS = 22, PAD = 12;
  const box = document.getElementById("timeline");
  const tip = document.getElementById("tooltip");
  const filter = document.getElementById("lane-filter");
  const view = { t0: 0, t1: ZD.span };
  window.zerodownView = view; // the visible window, in ms since ZD.start: for tests and the console
  let lanes = ZD.lanes;

  function esc(s) {
    return String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
  }

  function legend() {
    const used = new Set();
    for (const l of ZD.lanes) for (const it of l.i) used.add(it[2]);
    document.getElementById("legend").innerHTML = ZD.classes
      .map((c, i) => (used.has(i) ? '<span style="--c:' + c.c + '">' + esc(c.n) + "</span>" : ""))
      .join("");
  }

  function fmtTime(ms, step) {
    const d = new Date(ZD.start + ms);
    const iso = d.toISOString();
    if (step < 1000) return iso.substring(11, 23);
    if (step < 86400000) return iso.substring(11, 19);
    return iso.substring(0, 16).replace("T", " ");
  }

  function niceStep(span, px) {
    const raw = span / Math.max(px / 110, 1);
    const steps = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 15000, 30000, 60000, 120000,
      300000, 600000, 900000, 1800000, 3600000, 7200000, 21600000, 43200000, 86400000];
    for (const s of steps) if (s >= raw) return s;
    return steps[steps.length - 1];
  }

  function render() {
    const width = Math.max(box.clientWidth, 600);
    const plot = width - LABEL - PAD;
    const span = Math.max(view.t1 - view.t0, 1);
    const x = (t) => LABEL + ((t - view.t0) / span) * plot;
    const out = [];
    let y = AXIS;
    const step = niceStep(span, plot);
    const ticks = [];
    for (let t = Math.ceil(view.t0 / step) * step; t <= view.t1; t += step) ticks.push(t);
    let group = null;
    const rows = [];
    for (const l of lanes) {
      if (l.g !== group) {
        group = l.g;
        rows.push({ group: group, y: y });
        y += GROUP;
      }
      rows.push({ lane: l, y: y });
      y += ROW;
    }
    const height = y + 4;
    out.push('<svg xmlns="http://www.w3.org/2000/svg" width="' + width + '" height="' + height + '">');
    for (const t of ticks) {
      const tx = x(t).toFixed(1);
      out.push('<line class="grid" x1="' + tx + '" x2="' + tx + '" y1="' + (AXIS - 4) + '" y2="' + height + '"/>');
      out.push('<text class="axis" x="' + tx + '" y="' + (AXIS - 8) + '" text-anchor="middle">' + fmtTime(t, step) + "</text>");
    }
    for (const r of rows) {
      if (r.group !== undefined) {
        out.push('<text class="grp" x="4" y="' + (r.y + 14) + '">' + esc(r.group) + "</text>");
        continue;
      }
      const l = r.lane;
      const li = ZD.lanes.indexOf(l);
      out.push('<rect class="row" data-lane="' + li + '" x="' + LABEL + '" y="' + (r.y + 1) + '" width="' + plot + '" height="' + (ROW - 2) + '"/>');
      out.push('<text class="lbl" data-lane="' + li + '" x="12" y="' + (r.y + 12) + '">' + esc(l.l.length > 46 ? l.l.substring(0, 45) + "…" : l.l) + "<title>" + esc(l.l) + "</title></text>");
      for (let k = 0; k < l.i.length; k++) {
        const it = l.i[k];
        if (it[1] < view.t0 || it[0] > view.t1) continue;
        const c = ZD.classes[it[2]];
        const x0 = Math.max(x(it[0]), LABEL), x1 = Math.min(x(it[1]), LABEL + plot);
        const w = Math.max(x1 - x0, it[0] === it[1] ? 2 : 1);
        const top = c.b ? r.y + 1 : r.y + 3, h = c.b ? ROW - 2 : ROW - 6;
        out.push('<rect data-d="' + it[3] + '" x="' + x0.toFixed(1) + '" y="' + top + '" width="' + w.toFixed(1) +
          '" height="' + h + '" fill="' + c.c + '"' + (c.b ? "" : ' class="item"') + "/>");
      }
    }
    out.push("</svg>");
    box.innerHTML = out.join("");
  }

  function zoom(factor, at) {
    const span = view.t1 - view.t0;
    const ns = Math.min(Math.max(span * factor, 10), ZD.span * 1.5);
    const f = at === undefined ? 0.5 : at;
    const pivot = view.t0 + span * f;
    view.t0 = pivot - ns * f;
    view.t1 = view.t0 + ns;
    render();
  }

  function fraction(ev) {
    const rect = box.getBoundingClientRect();
    const plot = Math.max(box.clientWidth, 600) - LABEL - PAD;
    return Math.min(Math.max((ev.clientX - rect.left - LABEL) / plot, 0), 1);
  }

  box.addEventListener("wheel", (ev) => {
    if (!ev.ctrlKey && Math.abs(ev.deltaY) < Math.abs(ev.deltaX)) return;
    ev.preventDefault();
    // 100 px of wheel zoom by a sixth, however the browser groups them.
    zoom(Math.pow(1.0015, Math.max(Math.min(ev.deltaY, 1000), -1000)), fraction(ev));
  }, { passive: false });

  let drag = null;
  box.addEventListener("mousedown", (ev) => {
    drag = { x: ev.clientX, t0: view.t0, t1: view.t1 };
    box.classList.add("dragging");
  });
  window.addEventListener("mouseup", () => {
    drag = null;
    box.classList.remove("dragging");
  });
  window.addEventListener("mousemove", (ev) => {
    if (!drag) return;
    const plot = Math.max(box.clientWidth, 600) - LABEL - PAD;
    const dt = ((ev.clientX - drag.x) / plot) * (drag.t1 - drag.t0);
    view.t0 = drag.t0 - dt;
    view.t1 = drag.t1 - dt;
    render();
  });
  box.addEventListener("dblclick", () => {
    view.t0 = 0;
    view.t1 = ZD.span;
    render();
  });

  // Hovering an outage highlights the lane of the change it is
  // attributed to (ZD.cause), where that lane is drawn.
  function highlightCause(d) {
    for (const e of box.querySelectorAll(".cause")) e.classList.remove("cause");
    const li = d === null || !ZD.cause ? undefined : ZD.cause[d];
    if (li === undefined) return;
    for (const e of box.querySelectorAll('[data-lane="' + li + '"]')) e.classList.add("cause");
  }

  box.addEventListener("mouseover", (ev) => {
    const d = ev.target.getAttribute && ev.target.getAttribute("data-d");
    if (d === null || d === undefined) {
      tip.hidden = true;
      highlightCause(null);
      return;
    }
    tip.textContent = ZD.details[+d];
    tip.hidden = false;
    highlightCause(d);
  });
  box.addEventListener("mousemove", (ev) => {
    if (tip.hidden) return;
    const left = Math.min(ev.clientX + 14, window.innerWidth - tip.offsetWidth - 8);
    tip.style.left = Math.max(left, 0) + "px";
    tip.style.top = ev.clientY + 14 + "px";
  });
  box.addEventListener("mouseleave", () => {
    tip.hidden = true;
    highlightCause(null);
  });

  document.getElementById("zoom-in").addEventListener("click", () => zoom(0.5));
  document.getElementById("zoom-out").addEventListener("click", () => zoom(2));
  document.getElementById("zoom-reset").addEventListener("click", () => {
    view.t0 = 0;
    view.t1 = ZD.span;
    render();
  });
  filter.addEventListener("input", () => {
    const q = filter.value.trim().toLowerCase();
    lanes = q ? ZD.lanes.filter((l) => (l.g + " " + l.l).toLowerCase().includes(q)) : ZD.lanes;
    render();
  });
  window.addEventListener("resize", render);

  legend();
  render();
  document.body.dataset.rendered = String(performance.now());
})();
