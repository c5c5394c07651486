// deepstart serve: the page builds its input from GET schema (a canvas for images, a form for
// tables and series with a text box for a text column, a text box for sequences) and shows POST predict's answer as bars. Requests go to this server only.
"use strict";

const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  node.append(...children);
  return node;
}

// One request in flight; input that arrives meanwhile is sent when it returns, so a stroke drawn
// quickly costs a few requests, not one per pointer event.
function latestOnly(send) {
  let busy = false, again = false;
  return async function run() {
    if (busy) { again = true; return; }
    busy = true;
    try {
      do { again = false; await send(); } while (again);
    } finally { busy = false; }
  };
}

async function predict(body) {
  const response = await fetch("predict", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  const answer = await response.json();
  if (!response.ok) { showError(answer.detail || response.statusText); return; }
  show(answer);
}

function showError(text) {
  $("error").textContent = text;
}

function clearResult(text) {
  $("prediction").textContent = text;
  $("bars").replaceChildren();
  $("warnings").replaceChildren();
  showError("");
}

let output = null;  // the schema's "output": task, classes or target

function show(answer) {
  showError("");
  $("warnings").replaceChildren(...(answer.warnings || []).map((w) => el("li", {}, w)));
  if (!("probabilities" in answer)) {
    $("prediction").replaceChildren("predicted ", output.target, ": ",
      el("strong", { id: "predicted" }, answer.value.toPrecision(6)));
    $("bars").replaceChildren();
    return;
  }
  const top = answer.probabilities[answer.predicted];
  $("prediction").replaceChildren("predicted: ", el("strong", { id: "predicted" }, answer.predicted),
    ` (${(100 * top).toFixed(1)} %)`);
  $("bars").replaceChildren(...Object.entries(answer.probabilities).map(([name, p]) => {
    const fill = el("div", { class: "fill" });
    fill.style.width = `${(100 * p).toFixed(2)}%`;
    return el("div", { class: name === answer.predicted ? "bar top" : "bar", "data-class": name },
      el("span", { class: "name" }, name), el("div", { class: "track" }, fill),
      el("span", { class: "pct" }, `${(100 * p).toFixed(1)} %`));
  }));
}

// --- images: draw white on black, as MNIST and the digits were written ---

function imageInput(input) {
  const side = 280;
  const pad = el("canvas", { id: "pad", width: side, height: side, "aria-label": "drawing pad" });
  const seen = el("canvas", { id: "seen", width: input.width, height: input.height,
    title: `what the model sees: ${input.width} x ${input.height}` });
  const clear = el("button", { type: "button", id: "clear" }, "Clear");
  $("input").append(pad, el("div", { class: "pad-tools" }, clear, seen,
    el("span", { class: "hint" }, `draw with the mouse or a finger; sent as ${input.width} x ${input.height} pixels`)));

  const ctx = pad.getContext("2d", { willReadFrequently: true });
  const small = document.createElement("canvas");
  small.width = input.width;
  small.height = input.height;
  const sctx = small.getContext("2d", { willReadFrequently: true });
  // Stroke about a tenth of the drawing for 28-pixel images; thicker for coarse ones (8 x 8 digits).
  const stroke = side * Math.min(0.12, Math.max(0.06, 1 / Math.min(input.width, input.height)));
  // The drawing's box is centred and fills this share of the frame: 20 of 28 pixels for MNIST-size
  // images, as MNIST's digits were placed; nearly all of it for coarse ones.
  const fill = Math.min(input.width, input.height) >= 16 ? 20 / 28 : 7 / 8;

  function reset() {
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, side, side);
    seen.getContext("2d").clearRect(0, 0, seen.width, seen.height);
    clearResult("Draw to get a prediction.");
  }

  function pixels() {
    const data = ctx.getImageData(0, 0, side, side).data;
    let x0 = side, y0 = side, x1 = -1, y1 = -1;
    for (let y = 0; y < side; y++) {
      for (let x = 0; x < side; x++) {
        if (data[(y * side + x) * 4] > 0) {
          if (x < x0) x0 = x;
          if (x > x1) x1 = x;
          if (y < y0) y0 = y;
          if (y > y1) y1 = y;
        }
      }
    }
    if (x1 < 0) return null;
    const box = Math.max(x1 - x0 + 1, y1 - y0 + 1) / fill;
    const unit = Math.min(input.width, input.height);
    const sw = box * input.width / unit, sh = box * input.height / unit;
    sctx.fillStyle = "#000";
    sctx.fillRect(0, 0, input.width, input.height);
    sctx.imageSmoothingEnabled = true;
    sctx.imageSmoothingQuality = "high";
    sctx.drawImage(pad, (x0 + x1 + 1 - sw) / 2, (y0 + y1 + 1 - sh) / 2, sw, sh,
      0, 0, input.width, input.height);
    const image = sctx.getImageData(0, 0, input.width, input.height);
    seen.getContext("2d").putImageData(image, 0, 0);
    const scale = input.pixel_max / 255;  // canvas 0..255 -> the dataset's units
    const channels = [];
    for (let c = 0; c < input.channels; c++) {
      const rows = [];
      for (let y = 0; y < input.height; y++) {
        const row = [];
        for (let x = 0; x < input.width; x++) row.push(image.data[(y * input.width + x) * 4 + c] * scale);
        rows.push(row);
      }
      channels.push(rows);
    }
    return input.channels === 1 ? channels[0] : channels;
  }

  const send = latestOnly(async () => {
    const values = pixels();
    if (values) await predict({ pixels: values });
  });

  let last = null;
  function point(e) {
    const r = pad.getBoundingClientRect();
    return [(e.clientX - r.left) * side / r.width, (e.clientY - r.top) * side / r.height];
  }
  function line(a, b) {
    ctx.strokeStyle = "#fff";
    ctx.lineWidth = stroke;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.beginPath();
    ctx.moveTo(a[0], a[1]);
    ctx.lineTo(b[0], b[1]);
    ctx.stroke();
  }
  function dot(p) {  // a tap or a click: a zero-length line would draw nothing
    ctx.fillStyle = "#fff";
    ctx.beginPath();
    ctx.arc(p[0], p[1], stroke / 2, 0, 2 * Math.PI);
    ctx.fill();
  }
  pad.addEventListener("pointerdown", (e) => {
    e.preventDefault();
    pad.setPointerCapture(e.pointerId);
    last = point(e);
    dot(last);
    send();
  });
  pad.addEventListener("pointermove", (e) => {
    if (last === null) return;
    const p = point(e);
    line(last, p);
    last = p;
    send();
  });
  for (const type of ["pointerup", "pointercancel"]) {
    pad.addEventListener(type, () => { if (last !== null) { last = null; send(); } });
  }
  clear.addEventListener("click", reset);
  reset();
}

// --- tables and series: a form from the feature schema ---

function formInput(fields, toBody) {
  const form = el("form", { class: "features", id: "features" });
  const controls = fields.map((f, i) => {
    const id = `f${i}`;
    let control;
    if (f.type === "text") {  // a review, an e-mail: a box of its own, read as the model's tokens
      control = el("textarea", { id, name: f.name, rows: "6", spellcheck: "false",
        placeholder: `the text; the model reads its first ${f.length} tokens` });
    } else if (f.type === "category") {
      control = el("select", { id, name: f.name });
      for (const c of f.categories) control.append(el("option", { value: c }, c));
      if (f.nullable) control.append(el("option", { value: "" }, "(missing)"));
    } else {
      control = el("input", { id, name: f.name, type: "number", step: "any" });
      if (f.typical !== null && f.typical !== undefined) control.value = String(f.typical);
      if (f.nullable) control.placeholder = "empty: missing";
    }
    form.append(el("label", { for: id }, f.name), control);
    return [f, control];
  });
  form.append(el("button", { type: "submit", class: "primary" }, "Predict"));
  $("input").append(form);

  function values() {
    return controls.map(([f, c]) => {
      if (c.value === "") return null;
      return f.type === "number" ? Number(c.value) : c.value;
    });
  }
  const send = latestOnly(() => predict(toBody(values())));
  form.addEventListener("submit", (e) => { e.preventDefault(); send(); });
  form.addEventListener("change", send);
  clearResult("Fill in the form and press Predict.");
}

// --- sequences: pasted CSV rows, one step per line ---

function sequenceInput(input) {
  const names = input.features.join(", ");
  const form = el("form", { class: "features", id: "features" });
  const area = el("textarea", { id: "sequence", rows: "10", spellcheck: "false",
    placeholder: `one step per line, oldest first: ${names}` });
  form.append(el("label", { for: "sequence" }, `steps (${names}; the model reads ${input.steps})`),
    area, el("button", { type: "submit", class: "primary" }, "Predict"));
  $("input").append(form);
  const send = latestOnly(() => {
    const lines = area.value.split("\n").map((l) => l.trim()).filter((l) => l !== "");
    // a line's values go as numbers; one that is not a number goes as text, which serve names
    const steps = lines.map((l) => l.split(/[,;\t ]+/).map((v) => (v === "" || isNaN(Number(v)) ? v : Number(v))));
    return predict({ sequence: input.features.length === 1 ? steps.map((s) => s[0]) : steps });
  });
  form.addEventListener("submit", (e) => { e.preventDefault(); send(); });
  clearResult("Paste the steps and press Predict.");
}

async function start() {
  let schema;
  try {
    const response = await fetch("schema");
    schema = await response.json();
  } catch (e) {
    showError(`could not read the model's schema: ${e}`);
    return;
  }
  const m = schema.model;
  output = schema.output;
  document.title = `${m.run} — deepstart serve`;
  $("title").textContent = `${m.problem}: ${m.family}`;
  $("identity").textContent = `run ${m.run} · ${m.task} · weights sha256 ${m.weights_sha256} · deepstart ${m.deepstart}`;
  const input = schema.input;
  if (input.kind === "image") {
    imageInput(input);
  } else if (input.kind === "sequence") {
    sequenceInput(input);
  } else if (input.kind === "text") {
    formInput(input.features, (v) => ({ text: v[0] === null ? "" : v[0] }));
  } else if (input.kind === "table") {
    formInput(input.features, (v) => ({
      features: Object.fromEntries(input.features.map((f, i) => [f.name, v[i]])),
    }));
  } else {
    const steps = Array.from({ length: input.lookback }, (_, i) => ({
      name: `${input.column} t-${input.lookback - i}`, type: "number", nullable: false,
      typical: input.typical,
    }));
    formInput(steps, (v) => ({ window: v }));
  }
}

start();
