/** Feature Datanets (digits): n² features in [0, 1] are an n × n grey image, ink dark on white. */
export function digit(features: ArrayLike<number>, scale = 2): HTMLCanvasElement {
  const values = Array.from(features);
  const side = Math.round(Math.sqrt(values.length));
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = side;
  canvas.style.width = canvas.style.height = `${side * scale}px`;
  canvas.style.imageRendering = "pixelated";
  canvas.className = "tb-digit";
  inkOn(canvas, values);
  return canvas;
}

/** Draw n² values in [0, 1] on an n × n canvas: dark ink on white. */
function inkOn(canvas: HTMLCanvasElement, values: ArrayLike<number>): void {
  const context = canvas.getContext("2d")!;
  const image = context.createImageData(canvas.width, canvas.height);
  for (let i = 0; i < values.length; i++) {
    const ink = 255 - Math.round(255 * Math.max(0, Math.min(1, values[i]!)));
    image.data.set([ink, ink, ink, 255], 4 * i);
  }
  context.putImageData(image, 0, 0);
}

/**
 * A pad to draw a digit on, as an input (`view(digitPad())`): its value is the side² features in
 * [0, 1] (row-major, as the digits Datanet stores them), set when a stroke ends; "clear" empties it.
 * `value` starts it from an image (an inference's: draw over it and see what changes).
 * The brush is soft, like the pen strokes MNIST was scanned from.
 */
export function digitPad(options: { side?: number; scale?: number; value?: ArrayLike<number> | null } = {}): HTMLElement & { value: Float32Array } {
  // The side follows the starting image where one is given (an n² feature model), else MNIST's 28.
  const side = options.side ?? (options.value ? Math.round(Math.sqrt(options.value.length)) : 28), scale = options.scale ?? 10;
  const reach = Math.max(0.8, (1.6 * side) / 28); // the brush's radius in pixels: MNIST's pen width at any side
  const ink = new Float32Array(side * side);
  if (options.value) ink.set(Array.from(options.value).slice(0, ink.length)); // a starting image to draw over
  const root = document.createElement("div") as unknown as HTMLElement & { value: Float32Array };
  root.className = "tb-pad";
  const canvas = digit(ink, scale);
  canvas.style.cursor = "crosshair";
  canvas.style.touchAction = "none";
  canvas.style.border = "1px solid #999";
  const clear = document.createElement("button");
  clear.textContent = "clear";
  clear.type = "button";
  root.append(canvas, clear);
  const paint = (e: PointerEvent) => {
    const box = canvas.getBoundingClientRect();
    const cx = ((e.clientX - box.left) / box.width) * side, cy = ((e.clientY - box.top) / box.height) * side;
    for (let y = Math.floor(cy - reach); y <= Math.ceil(cy + reach); y++) {
      for (let x = Math.floor(cx - reach); x <= Math.ceil(cx + reach); x++) {
        if (x < 0 || y < 0 || x >= side || y >= side) continue;
        const d = Math.hypot(x + 0.5 - cx, y + 0.5 - cy);
        ink[y * side + x] = Math.max(ink[y * side + x]!, Math.max(0, Math.min(1, reach - d)));
      }
    }
    draw();
  };
  const draw = () => inkOn(canvas, ink);
  let down = false;
  canvas.addEventListener("pointerdown", (e) => {
    down = true;
    canvas.setPointerCapture(e.pointerId);
    paint(e);
  });
  canvas.addEventListener("pointermove", (e) => down && paint(e));
  const end = () => {
    if (!down) return;
    down = false;
    root.value = Float32Array.from(ink);
    root.dispatchEvent(new Event("input", { bubbles: true }));
  };
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);
  clear.addEventListener("click", () => {
    ink.fill(0);
    draw();
    root.value = Float32Array.from(ink);
    root.dispatchEvent(new Event("input", { bubbles: true }));
  });
  root.value = Float32Array.from(ink);
  return root;
}
