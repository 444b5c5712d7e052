#!/usr/bin/env python3
"""Writes the image-preprocessing fixtures and what Kosmos-2's processor makes of them.

    python3 scripts/make_pixel_fixtures.py [OUT_DIR]   (default api-service/src/test/resources/pixels)

For each fixture (sizes and kinds a customer sends: a tiny image that is enlarged, a 4000x3000
photo that is shrunk 18x, a portrait, greyscale, a palette PNG, a PNG with transparency, a CMYK
JPEG) it writes the file and NAME.expected.png: the 224x224 RGB image that Kosmos2Processor's
image processor (CLIPImageProcessor, PIL backend, with Kosmos-2's use_square_size: convert("RGB"),
bicubic resize to 224x224, a no-op centre crop) produces before rescaling and normalising. The script checks that the
processor's pixel_values are exactly that image, rescaled and normalised (so comparing with the
PNG is comparing with the processor), and writes pixels.json with the mean and std it used.
CI reads the files; it never runs Python.
"""
import json
import os
import sys

import numpy as np
from PIL import Image, ImageDraw
from transformers import CLIPImageProcessorPil

MEAN = [0.48145466, 0.4578275, 0.40821073]
STD = [0.26862954, 0.26130258, 0.27577711]


def photo(w, h, seed):
    """Photo-like content: smooth gradients, fine texture, hard-edged shapes."""
    rng = np.random.default_rng(seed)
    x = np.linspace(0, 1, w)[None, :]
    y = np.linspace(0, 1, h)[:, None]
    img = np.stack([128 + 100 * np.sin(6 * x + 3 * y),
                    128 + 100 * np.cos(20 * x * y),
                    128 + 60 * np.sin(20 * x) * np.cos(15 * y)], -1)
    img = img + rng.normal(0, 6, img.shape)
    im = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    d = ImageDraw.Draw(im)
    for _ in range(30):
        x0, y0 = int(rng.integers(0, w * 9 // 10)), int(rng.integers(0, h * 9 // 10))
        x1 = x0 + int(rng.integers(1, max(2, w // 8)))
        y1 = y0 + int(rng.integers(1, max(2, h // 8)))
        fill = tuple(int(v) for v in rng.integers(0, 255, 3))
        (d.ellipse if rng.integers(0, 2) else d.rectangle)([x0, y0, x1, y1], fill=fill)
    return im


def fixtures():
    tiny = photo(7, 5, 1)
    big = photo(4000, 3000, 2)
    portrait = photo(600, 900, 3)
    gray = photo(300, 200, 4).convert("L")
    palette = photo(256, 192, 5).convert("P", palette=Image.ADAPTIVE, colors=64)
    rgba = photo(320, 240, 6).convert("RGBA")
    alpha = np.zeros((240, 320), dtype=np.uint8)
    alpha[:, 160:] = 255
    alpha[60:180, 40:120] = 128
    rgba.putalpha(Image.fromarray(alpha))
    cmyk = photo(400, 300, 7).convert("CMYK")
    return [("tiny-7x5.png", tiny, {}), ("photo-4000x3000.jpg", big, {"quality": 85}),
            ("portrait-600x900.png", portrait, {}), ("gray-300x200.png", gray, {}),
            ("palette-256x192.png", palette, {}), ("transparent-320x240.png", rgba, {}),
            ("cmyk-400x300.jpg", cmyk, {"quality": 90})]


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(__file__), "..", "api-service", "src", "test", "resources", "pixels")
    os.makedirs(out, exist_ok=True)
    processor = CLIPImageProcessorPil(
        use_square_size=True, image_mean=MEAN, image_std=STD)
    names = []
    for name, img, kw in fixtures():
        path = os.path.join(out, name)
        img.save(path, **kw)
        loaded = Image.open(path)  # what a client sends: the encoded file, decoded by PIL
        pv = processor(loaded, return_tensors="np")["pixel_values"][0]
        expected = Image.open(path).convert("RGB").resize((224, 224), Image.BICUBIC)
        e = np.asarray(expected, dtype=np.float32).transpose(2, 0, 1)
        ours = (e * np.float32(1 / 255) - np.array(MEAN, np.float32)[:, None, None]) \
            / np.array(STD, np.float32)[:, None, None]
        diff = float(np.abs(ours - pv).max())
        if diff > 1e-5:
            raise SystemExit(f"{name}: the processor is not convert+resize+normalise ({diff})")
        expected.save(os.path.join(out, name + ".expected.png"))
        names.append({"file": name, "mode": Image.open(path).mode, "size": list(loaded.size),
                      "pixel_values_sample": [float(pv[c, y, x]) for c, y, x in
                                              [(0, 0, 0), (1, 111, 57), (2, 223, 223)]]})
        print(f"{name}: {Image.open(path).mode} {loaded.size}, processor = PIL resize "
              f"(max diff {diff:.1e})")
    with open(os.path.join(out, "pixels.json"), "w") as f:
        json.dump({"image_mean": MEAN, "image_std": STD, "size": 224, "fixtures": names}, f,
                  indent=1)


if __name__ == "__main__":
    main()
