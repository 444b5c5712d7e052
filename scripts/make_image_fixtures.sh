#!/usr/bin/env bash
# Regenerates the image fixtures the tests cannot make with ImageIO (no WebP writer in the JDK).
# Needs python3 and cwebp (Debian: apt-get install webp). CI never runs this; it reads the output.
#   scripts/make_image_fixtures.sh
set -euo pipefail
out="$(dirname "$0")/../api-service/src/test/resources/images"
mkdir -p "$out"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
python3 - "$tmp/gradient.png" <<'PY'
import struct, sys, zlib
w, h = 64, 48
rows = b"".join(b"\x00" + bytes(v for x in range(w) for v in (x * 4, y * 5, 128)) for y in range(h))
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
png += chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
open(sys.argv[1], "wb").write(png)
PY
cwebp -quiet -q 80 "$tmp/gradient.png" -o "$out/gradient-64x48.webp"
echo "wrote $out/gradient-64x48.webp"
