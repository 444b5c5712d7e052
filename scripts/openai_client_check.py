#!/usr/bin/env python3
"""Drive a running KosmosX API with the official `openai` Python package, unchanged.

    python3 -m venv .venv-openai && .venv-openai/bin/pip install openai
    ./kosmos up -d                      # or any deployment
    .venv-openai/bin/python scripts/openai_client_check.py [--base-url http://localhost:8080]

It signs up a fresh account (POST /v1/accounts), then checks, printing what it saw:
models list; chat with text; chat with an image data URL (objects on the message); streaming with
include_usage (chunks, the usage chunk with no choices, the text equal to the job's record);
completions; an oversized prompt (BadRequestError, code context_length_exceeded); and a 429
(RateLimitError with Retry-After, then a client with retries that waits that long and succeeds).
Exits 1 on the first check that fails. The 429 check needs the default limit (60 submissions a
minute per key) or one you pass with --rate-limit; it waits out up to a minute.
"""
import argparse
import base64
import json
import struct
import sys
import time
import urllib.request
import uuid
import zlib

import openai

try:  # openai 3.x ships on httpx2; 1.x and 2.x on httpx
    import httpx2 as httpx
except ImportError:
    import httpx
from openai import OpenAI

ok = True


def check(name, cond, detail=""):
    global ok
    print(("PASS " if cond else "FAIL ") + name + (": " + detail if detail else ""))
    if not cond:
        ok = False
        sys.exit(1)


def http(base, method, path, body=None, key=None):
    req = urllib.request.Request(base + path, method=method,
                                 data=None if body is None else json.dumps(body).encode())
    req.add_header("Content-Type", "application/json")
    if key:
        req.add_header("Authorization", "Bearer " + key)
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


def png(width, height):
    """The local stack tour's picture, as PNG without Pillow: a red disc on light blue."""
    rows = b""
    for y in range(height):
        row = b"\x00"
        for x in range(width):
            disc = (x - 22) ** 2 + (y - 24) ** 2 < 14 * 14
            row += b"\xdc\x1e\x1e" if disc else b"\x96\xbe\xf0"
        rows += row

    def chunk(kind, data):
        c = kind + data
        return struct.pack(">I", len(data)) + c + struct.pack(">I", zlib.crc32(c) & 0xffffffff)

    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--base-url", default="http://localhost:8080")
    p.add_argument("--rate-limit", type=int, default=60, help="submissions a minute per key")
    a = p.parse_args()
    base = a.base_url.rstrip("/")
    print("openai", openai.__version__, "against", base)
    name = "oai" + uuid.uuid4().hex[:8]
    account = http(base, "POST", "/v1/accounts",
                   {"username": name, "email": name + "@example.com",
                    "password": "correct horse battery"})
    key = account["api_key"]["key"]
    client = OpenAI(base_url=base + "/v1", api_key=key, max_retries=0)

    models = client.models.list()
    ids = [m.id for m in models.data]
    check("models.list", "kosmos-2" in ids,
          f"{ids}, max_model_len {models.data[0].model_extra.get('max_model_len')}")
    model = ids[0]

    r = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Once upon a time"}], max_tokens=16)
    job = http(base, "GET", "/v1/jobs/" + r.id, key=key)
    check("chat (text)", r.object == "chat.completion" and r.choices[0].finish_reason in ("stop", "length")
          and r.choices[0].message.content == job["output"]["text"] and job["status"] == "succeeded",
          f"id {r.id}, {r.choices[0].message.content!r}, finish {r.choices[0].finish_reason}, "
          f"usage {r.usage.prompt_tokens}+{r.usage.completion_tokens}")

    data_url = "data:image/png;base64," + base64.b64encode(png(64, 48)).decode()
    r = client.chat.completions.create(
        model=model, max_tokens=24,
        messages=[{"role": "user", "content": [
            {"type": "text", "text": "An image of"},
            {"type": "image_url", "image_url": {"url": data_url}}]}])
    objects = (r.choices[0].message.model_extra or {}).get("objects")
    job = http(base, "GET", "/v1/jobs/" + r.id, key=key)
    check("chat (image data URL)", job["type"] == "image" and objects == job["output"]["objects"],
          f"{r.choices[0].message.content!r}, objects {objects}")

    stream = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Tell me a story"}], max_tokens=32,
        stream=True, stream_options={"include_usage": True},
        extra_body={"ignore_eos": True})  # vLLM's extension: 32 tokens, to see them stream
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    pieces = sum(1 for c in chunks if c.choices and c.choices[0].delta.content)
    last = chunks[-1]
    job = http(base, "GET", "/v1/jobs/" + chunks[0].id, key=key)
    check("chat stream (include_usage)",
          last.choices == [] and last.usage is not None
          and last.usage.completion_tokens == job["usage"]["output_tokens"]
          and text == job["output"]["text"],
          f"{len(chunks)} chunks, {pieces} with content, {text!r}, usage "
          f"{last.usage.prompt_tokens}+{last.usage.completion_tokens}")

    r = client.completions.create(model=model, prompt="Once upon a time", max_tokens=12)
    check("completions", r.object == "text_completion" and len(r.choices[0].text) > 0,
          f"{r.choices[0].text!r}, finish {r.choices[0].finish_reason}")

    try:
        client.completions.create(model=model, prompt="word " * 25000, max_tokens=16)
        check("oversized prompt", False, "no error")
    except openai.BadRequestError as e:
        check("oversized prompt", e.code == "context_length_exceeded",
              f"BadRequestError code={e.code} param={e.param}: {e.message[:90]}")

    # 429: spend the key's limit, then a client with retries must wait Retry-After and succeed.
    retry_after = None
    # The limit is per minute: a run that straddles a minute boundary needs up to twice as many.
    for i in range(2 * a.rate_limit + 10):
        try:
            client.completions.create(model=model, prompt="Hi", max_tokens=1)
        except openai.RateLimitError as e:
            retry_after = float(e.response.headers.get("retry-after"))
            check("429", e.code == "rate_limit_exceeded",
                  f"after {i} more requests: RateLimitError code={e.code}, Retry-After "
                  f"{retry_after:.0f} s, x-ratelimit-remaining-requests "
                  f"{e.response.headers.get('x-ratelimit-remaining-requests')}")
            break
    check("429 reached", retry_after is not None)
    sent = []
    patient = OpenAI(base_url=base + "/v1", api_key=key, max_retries=2,
                     http_client=httpx.Client(timeout=120, event_hooks={
                         "request": [lambda req: sent.append(time.monotonic())]}))
    t0 = time.monotonic()
    r = patient.completions.create(model=model, prompt="Hi", max_tokens=1)
    waited = time.monotonic() - t0
    gap = sent[-1] - sent[0] if len(sent) > 1 else 0
    check("retry honours Retry-After", len(sent) >= 2 and gap >= retry_after - 1.0,
          f"{len(sent)} attempts, retried after {gap:.1f} s (Retry-After {retry_after:.0f} s), "
          f"answered in {waited:.1f} s")
    print("ALL PASSED")


if __name__ == "__main__":
    main()
