"""Loss curves drawn with Pillow: a picture a researcher can open, without a plotting dependency."""
import numpy as np
from PIL import Image, ImageDraw

COLOURS = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14), (23, 190, 207)]
WIDTH, HEIGHT, MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 640, 400, 70, 150, 40, 40


def line_plot(series, title, label=None, x_label="step", log_y=True):
    """series: name -> 1-d values, drawn against their index. Returns uint8 [H, W, 3].
    A logarithmic y axis shows the late, slow part of a loss curve; `label` (the
    generator's, stand-ins included) is printed in red at the top."""
    picture = Image.new("RGB", (WIDTH, HEIGHT), (255, 255, 255))
    draw = ImageDraw.Draw(picture)
    values = {k: np.asarray(v, np.float64) for k, v in series.items() if len(v)}
    finite = np.concatenate([v[np.isfinite(v)] for v in values.values()] or [np.zeros(1)])
    if log_y:
        finite = finite[finite > 0]
        log_y = finite.size > 0
    transform = np.log10 if log_y else (lambda a: a)
    low, high = (transform(finite.min()), transform(finite.max())) if finite.size else (0.0, 1.0)
    if high - low < 1e-12:
        low, high = low - 0.5, high + 0.5
    length = max(max(len(v) for v in values.values()) - 1, 1) if values else 1
    left, right = MARGIN_LEFT, WIDTH - MARGIN_RIGHT
    top, bottom = MARGIN_TOP, HEIGHT - MARGIN_BOTTOM

    def to_pixel(i, y):
        return (left + (right - left) * i / length, bottom - (bottom - top) * (y - low) / (high - low))

    draw.rectangle([left, top, right, bottom], outline=(0, 0, 0))
    for fraction in (0.0, 0.5, 1.0):
        level = low + fraction * (high - low)
        y = to_pixel(0, level)[1]
        draw.line([left - 4, y, left, y], fill=(0, 0, 0))
        draw.text((4, y - 6), f"{10 ** level if log_y else level:.4g}", fill=(0, 0, 0))
        x = left + fraction * (right - left)
        draw.line([x, bottom, x, bottom + 4], fill=(0, 0, 0))
        draw.text((x - 10, bottom + 6), f"{fraction * length:.0f}", fill=(0, 0, 0))
    if label:
        draw.text((4, 2), label, fill=(180, 0, 0))
    draw.text((left, 18), title + ("  (log scale)" if log_y else ""), fill=(0, 0, 0))
    draw.text(((left + right) // 2 - 10, bottom + 22), x_label, fill=(0, 0, 0))
    for k, (name, v) in enumerate(values.items()):
        colour = COLOURS[k % len(COLOURS)]
        ok = np.isfinite(v) & ((v > 0) if log_y else True)
        points = [to_pixel(i, transform(y)) for i, y in enumerate(v) if ok[i]]
        if len(points) > 1:
            draw.line(points, fill=colour, width=2)
        draw.line([right + 10, top + 10 + 16 * k, right + 30, top + 10 + 16 * k], fill=colour, width=2)
        draw.text((right + 36, top + 4 + 16 * k), name, fill=(0, 0, 0))
    return np.asarray(picture)


def scatter_plot(x, y, title, x_label, y_label, box, label=None, limits=((-0.25, 1.25), (-0.25, 1.0))):
    """One dot per item at (x, y), with the rectangle `box` ((x0, x1), (y0, y1)) shaded:
    the region that counts as a success. Returns uint8 [H, W, 3]."""
    picture = Image.new("RGB", (WIDTH - MARGIN_RIGHT + 30, HEIGHT), (255, 255, 255))
    draw = ImageDraw.Draw(picture)
    (x_low, x_high), (y_low, y_high) = limits
    left, right = MARGIN_LEFT, picture.width - 30
    top, bottom = MARGIN_TOP, HEIGHT - MARGIN_BOTTOM

    def to_pixel(px, py):
        px, py = np.clip(px, x_low, x_high), np.clip(py, y_low, y_high)
        return (left + (right - left) * (px - x_low) / (x_high - x_low),
                bottom - (bottom - top) * (py - y_low) / (y_high - y_low))

    (bx0, bx1), (by0, by1) = box
    corner0, corner1 = to_pixel(bx0, by1), to_pixel(bx1, by0)
    draw.rectangle([corner0, corner1], fill=(215, 240, 215))
    draw.rectangle([left, top, right, bottom], outline=(0, 0, 0))
    for fraction in (0.0, 0.5, 1.0):
        xv, yv = x_low + fraction * (x_high - x_low), y_low + fraction * (y_high - y_low)
        px, py = to_pixel(xv, yv)
        draw.text((px - 10, bottom + 6), f"{xv:.2f}", fill=(0, 0, 0))
        draw.text((8, py - 6), f"{yv:.2f}", fill=(0, 0, 0))
    for px, py in zip(np.asarray(x, np.float64), np.asarray(y, np.float64)):
        cx, cy = to_pixel(px, py)
        draw.ellipse([cx - 2, cy - 2, cx + 2, cy + 2], fill=COLOURS[0])
    if label:
        draw.text((4, 2), label, fill=(180, 0, 0))
    draw.text((left, 18), title, fill=(0, 0, 0))
    draw.text(((left + right) // 2 - 20, bottom + 22), x_label, fill=(0, 0, 0))
    draw.text((4, top - 14), y_label, fill=(0, 0, 0))
    return np.asarray(picture)
