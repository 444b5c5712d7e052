#!/usr/bin/env python3
"""Exports a Hugging Face Kosmos-2 checkpoint into the worker's model directory format.

    python3 -m venv .venv && .venv/bin/pip install -r scripts/requirements-export.txt
    .venv/bin/python scripts/export_kosmos2.py microsoft/kosmos-2-patch14-224 models/kosmos-2 [--fp16]
    ./kosmos model verify models/kosmos-2

CHECKPOINT is a Hugging Face id (downloaded by transformers, on a machine with internet) or a
local folder written by save_pretrained (model + processor). The shipped model/tiny-kosmos is made
the same way from scripts/make_tiny_checkpoint.py's output: one path for real and tiny weights.
After writing, the script reloads model.pt and checks it against Hugging Face (greedy tokens equal
`generate` on text and image prompts, first-position logits within a tolerance) and writes
golden.json from Hugging Face itself, which `./kosmos model verify` checks in the Java engine.

Output (the model directory contract, see README "Model directory contract"):
  model.pt        TorchScript: encode_image(pixel_values) -> [B,64,D]
                  prefill(input_ids, position_ids, image_embeds, image_mask, k_cache, v_cache,
                          key_mask, start) -> logits [B,V] of the chunk's last position
                  decode_step(input_ids, position_ids, k_cache, v_cache, key_mask, start) -> [B,V]
                  Caches are [L,B,H,C,Dh], allocated by the caller and written in place.
  tokenizer.json  the checkpoint's fast tokenizer (XLM-R SentencePiece Unigram + Kosmos-2 tags)
  config.json     image size, CLIP mean/std, token ids, 64 image tokens, max context
  golden.json     Hugging Face's own answers: tokenizer ids, processor prompt ids and
                  pixel_values samples, generate tokens (each prompt alone, and the text prompts
                  in one left-padded batch), post_process_generation text and boxes

Facts this relies on (transformers' modeling_kosmos2.py):
  * vision: CLIP ViT-L/14 -> post_layernorm -> L2 normalise -> image_to_text_projection (a latent
    query resampler) -> 64 embeddings; they replace the placeholders after <image> (img_attn_mask),
    and are scaled by embed_scale with the token embeddings (forward_embedding).
  * text: token embeddings x embed_scale, plus sinusoidal positions offset by padding_idx + 1
    (Kosmos-2 counts positions from pad id + 1 = 2); pre-LN blocks with an inner FFN layernorm.
    The positions are computed, not tabled, so the file carries no position table.
  * Kosmos-2 was trained on 2,048 positions; max_context is its max_position_embeddings (2,048
    for the real model). The worker enforces min(20,000, max_context): longer prompts fail with
    context_length_exceeded rather than degrading silently.
"""
import argparse
import json
import math
import os

import torch
import torch.nn as nn
from torch import Tensor


class VisionTower(nn.Module):
    """pixel_values [B,3,S,S] -> image embeddings [B,64,D]: the part that is traced.

    Hugging Face's vision model, post-layernorm, L2 normalisation and the latent-query resampler,
    exactly as Kosmos2Model.get_image_features runs them. `torch.jit.script` cannot compile these
    modules (their config classes have no source it can read); `torch.jit.trace` records them, and
    the batch size stays dynamic.
    """

    def __init__(self, hf):
        super().__init__()
        self.vision = hf.model.vision_model if hasattr(hf, "model") else hf.vision_model
        self.projection = (hf.model.image_to_text_projection if hasattr(hf, "model")
                           else hf.image_to_text_projection)

    def forward(self, pixel_values: Tensor) -> Tensor:
        out = self.vision(pixel_values=pixel_values)
        h = self.vision.model.post_layernorm(out[0])
        h = nn.functional.normalize(h, dim=-1)
        embeds, _ = self.projection(h)
        return embeds


class Block(nn.Module):
    """One Kosmos-2 text block, over the Hugging Face layer's own weight tensors (no copy)."""

    def __init__(self, layer):
        super().__init__()
        a = layer.self_attn
        self.ln1 = layer.self_attn_layer_norm
        self.q = a.q_proj
        self.k = a.k_proj
        self.v = a.v_proj
        self.o = a.out_proj
        self.has_inner = a.inner_attn_ln is not None
        self.inner = a.inner_attn_ln if self.has_inner else nn.Identity()
        self.ln2 = layer.final_layer_norm
        self.fc1 = layer.ffn.fc1
        self.fc2 = layer.ffn.fc2
        self.ffn_ln = layer.ffn.ffn_layernorm


class Decoder(nn.Module):
    """The text decoder with a caller-owned, preallocated KV cache (no torch.cat per step)."""

    def __init__(self, hf, num_heads: int, head_dim: int, padding_idx: int):
        super().__init__()
        text = (hf.model.text_model.model if hasattr(hf, "model") else hf.text_model.model)
        lm_head = (hf.lm_head if hasattr(hf, "lm_head") else hf.text_model.lm_head)
        self.embed_tokens = nn.Embedding.from_pretrained(text.embed_tokens.weight.detach(),
                                                         freeze=True)
        self.embed_scale = float(text.embed_scale)
        self.blocks = nn.ModuleList([Block(l) for l in text.layers])
        self.layer_norm = text.layer_norm
        self.lm_head = lm_head
        self.num_heads = num_heads
        self.head_dim = head_dim
        self.padding_idx = padding_idx
        # Hugging Face's sinusoidal table (fairseq layout), computed for the positions at hand
        # with the same float32 operations instead of stored (20,610 x D floats for the tiny
        # model's 20k context): row p = [sin(p * f), cos(p * f)], f = exp(-i ln(10000) / (D/2 - 1)).
        self.half_dim = int(text.embed_positions.embedding_dim) // 2
        self.odd_dim = int(text.embed_positions.embedding_dim) % 2 == 1
        self.register_buffer("pos_freq", torch.exp(
            torch.arange(self.half_dim, dtype=torch.int64).float()
            * -(math.log(10000) / (self.half_dim - 1))), persistent=True)

    def positions(self, position_ids: Tensor) -> Tensor:
        p = (position_ids + self.padding_idx + 1).float().unsqueeze(-1) * self.pos_freq
        emb = torch.cat([torch.sin(p), torch.cos(p)], dim=-1)
        if self.odd_dim:
            emb = torch.cat([emb, torch.zeros_like(emb[..., :1])], dim=-1)
        return emb

    def run(self, h: Tensor, position_ids: Tensor, k_cache: Tensor, v_cache: Tensor,
            key_mask: Tensor, start: int) -> Tensor:
        b, t, d = h.shape
        s = start + t
        h = h + self.positions(position_ids).to(h.dtype)
        rows = torch.arange(start, s, device=h.device).unsqueeze(1)
        cols = torch.arange(0, s, device=h.device).unsqueeze(0)
        mask = (cols <= rows).unsqueeze(0).unsqueeze(0) & key_mask[:, :s].unsqueeze(1).unsqueeze(1)
        i = 0
        for blk in self.blocks:
            residual = h
            x = blk.ln1(h)
            q = blk.q(x) * (self.head_dim ** -0.5)
            k = blk.k(x)
            v = blk.v(x)
            q = q.view(b, t, self.num_heads, self.head_dim).transpose(1, 2)
            k = k.view(b, t, self.num_heads, self.head_dim).transpose(1, 2)
            v = v.view(b, t, self.num_heads, self.head_dim).transpose(1, 2)
            k_cache[i, :, :, start:s] = k
            v_cache[i, :, :, start:s] = v
            # Scores, mask and softmax in float32 (-1e9 does not fit fp16).
            att = torch.matmul(q, k_cache[i, :, :, :s].transpose(-1, -2)).float()
            att = att.masked_fill(torch.logical_not(mask), -1.0e9)
            att = torch.softmax(att, dim=-1).to(v.dtype)
            out = torch.matmul(att, v_cache[i, :, :, :s]).transpose(1, 2).reshape(b, t, d)
            out = blk.inner(out)
            h = residual + blk.o(out)
            residual = h
            x = blk.ln2(h)
            x = nn.functional.gelu(blk.fc1(x))
            x = blk.ffn_ln(x)
            h = residual + blk.fc2(x)
            i += 1
        return self.lm_head(self.layer_norm(h))


class KosmosExport(nn.Module):
    """The model directory's model.pt: a scripted module around the traced vision tower."""

    def __init__(self, vision, decoder):
        super().__init__()
        self.vision = vision
        self.decoder = decoder

    @torch.jit.export
    def encode_image(self, pixel_values: Tensor) -> Tensor:
        return self.vision(pixel_values)

    @torch.jit.export
    def prefill(self, input_ids: Tensor, position_ids: Tensor, image_embeds: Tensor,
                image_mask: Tensor, k_cache: Tensor, v_cache: Tensor, key_mask: Tensor,
                start: int) -> Tensor:
        h = self.decoder.embed_tokens(input_ids)
        # Hugging Face scales after the image embeddings replace the placeholders
        # (Kosmos2TextTransformer.forward_embedding): image features are scaled too.
        h = h.masked_scatter(image_mask.unsqueeze(-1), image_embeds.to(h.dtype))
        h = h * self.decoder.embed_scale
        return self.decoder.run(h, position_ids, k_cache, v_cache, key_mask, start)[:, -1].float()

    @torch.jit.export
    def decode_step(self, input_ids: Tensor, position_ids: Tensor, k_cache: Tensor,
                    v_cache: Tensor, key_mask: Tensor, start: int) -> Tensor:
        h = self.decoder.embed_tokens(input_ids) * self.decoder.embed_scale
        return self.decoder.run(h, position_ids, k_cache, v_cache, key_mask, start)[:, -1].float()

    def forward(self, input_ids: Tensor) -> Tensor:
        return input_ids


def greedy(scripted, tcfg, prompt, pixel_values, image_mask, n, eos, dtype):
    """Our greedy loop on the exported module: the worker's calls, in the worker's order."""
    L, H = tcfg.layers, tcfg.attention_heads
    Dh = tcfg.embed_dim // H
    k = torch.zeros(L, 1, H, prompt.shape[1] + n, Dh, dtype=dtype)
    v = torch.zeros_like(k)
    key_mask = torch.ones(1, prompt.shape[1] + n, dtype=torch.bool)
    if pixel_values is not None:
        emb = scripted.encode_image(pixel_values.to(dtype))
    else:
        emb = torch.zeros(1, 0, tcfg.embed_dim, dtype=dtype)
        image_mask = torch.zeros_like(prompt, dtype=torch.bool)
    pos = torch.arange(prompt.shape[1]).unsqueeze(0)
    logits = scripted.prefill(prompt, pos, emb, image_mask, k, v, key_mask, 0)
    first = logits[0].clone()
    out, p = [], prompt.shape[1]
    for _ in range(n):
        t = int(torch.argmax(logits[0]))
        out.append(t)
        if t == eos:
            break
        logits = scripted.decode_step(torch.tensor([[t]]), torch.tensor([[p]]), k, v, key_mask, p)
        p += 1
    return out, first


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("checkpoint", help="a Hugging Face id or a local save_pretrained folder")
    ap.add_argument("out_dir")
    ap.add_argument("--fp16", action="store_true", help="half precision weights (GPU serving)")
    ap.add_argument("--tolerance", type=float, default=None,
                    help="max |logit difference| at the first generated position (default 1e-3"
                         " fp32, 5e-2 fp16)")
    ap.add_argument("--max-new-tokens", type=int, default=40,
                    help="tokens compared per prompt (fewer for a full-size model on a CPU)")
    args = ap.parse_args()
    from transformers import AutoProcessor, Kosmos2ForConditionalGeneration

    processor = AutoProcessor.from_pretrained(args.checkpoint)
    hf = Kosmos2ForConditionalGeneration.from_pretrained(args.checkpoint).eval()
    hf.requires_grad_(False)
    tcfg = hf.config.text_config
    dtype = torch.float16 if args.fp16 else torch.float32
    # The export shares Hugging Face's weight tensors, so convert the model itself: the reference
    # then runs in the same precision as the export (fp16 on the same device is the comparison
    # that means something; fp16 against fp32 differs by rounding, not by mistakes).
    hf = hf.to(dtype)
    tolerance = args.tolerance or (5e-2 if args.fp16 else 1e-3)
    size = hf.config.vision_config.image_size
    with torch.no_grad():
        vision = VisionTower(hf).eval().to(dtype)
        traced = torch.jit.trace(vision, torch.randn(2, 3, size, size, dtype=dtype),
                                 check_trace=False)
        decoder = Decoder(hf, tcfg.attention_heads, tcfg.embed_dim // tcfg.attention_heads,
                          tcfg.pad_token_id).eval().to(dtype)
        decoder.pos_freq.data = decoder.pos_freq.data.float()  # positions in float32, as HF
        scripted = torch.jit.script(KosmosExport(traced, decoder).eval())
    os.makedirs(args.out_dir, exist_ok=True)
    scripted.save(os.path.join(args.out_dir, "model.pt"))
    scripted = torch.jit.load(os.path.join(args.out_dir, "model.pt"))  # check what was written
    processor.tokenizer.backend_tokenizer.save(os.path.join(args.out_dir, "tokenizer.json"))

    tok = processor.tokenizer
    ip = processor.image_processor
    ids = lambda t: tok.convert_tokens_to_ids(t)
    crop = getattr(ip, "crop_size", None) or ip.size
    config = {
        "model_type": "kosmos-2",
        "description": "Exported from " + args.checkpoint + " by scripts/export_kosmos2.py",
        "image_size": int(crop["height"]) if not isinstance(crop, int) else crop,
        "patch_size": hf.config.vision_config.patch_size,
        "image_mean": list(ip.image_mean), "image_std": list(ip.image_std),
        "num_image_tokens": hf.config.latent_query_num,
        "max_context": tcfg.max_position_embeddings,
        "hidden_size": tcfg.embed_dim, "num_layers": tcfg.layers, "num_heads": tcfg.attention_heads,
        "head_dim": tcfg.embed_dim // tcfg.attention_heads, "vocab_size": tcfg.vocab_size,
        "bos_token_id": tok.bos_token_id, "pad_token_id": tok.pad_token_id,
        "eos_token_id": tok.eos_token_id, "unk_token_id": tok.unk_token_id,
        "image_token_id": ids("<image>"), "image_end_token_id": ids("</image>"),
        "grounding_token_id": ids("<grounding>"),
        "phrase_token_id": ids("<phrase>"), "phrase_end_token_id": ids("</phrase>"),
        "object_token_id": ids("<object>"), "object_end_token_id": ids("</object>"),
        "delimiter_token_id": ids("</delimiter_of_multi_objects/>"),
        "patch_index_token_offset": ids("<patch_index_0000>"), "num_patch_index_tokens": 1024,
        "dtype": "float16" if args.fp16 else "float32",
    }
    with open(os.path.join(args.out_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=2)

    # The check: on text prompts and an image prompt, our greedy loop on the written file
    # reproduces Hugging Face's generate token for token, and the first position's logits agree
    # within the tolerance (greedy tokens alone hide errors behind near-ties of random weights).
    import base64
    import io
    from PIL import Image, ImageDraw
    # A picture with an object on a gradient, not square (so the resize is exercised), embedded in
    # golden.json as PNG: the Java side reads the same file through its own preprocessing.
    image = Image.new("RGB", (320, 240))
    image.putdata([(40 + x * 160 // 320, 90 + y * 100 // 240, 160) for y in range(240)
                   for x in range(320)])
    ImageDraw.Draw(image).ellipse([60, 50, 190, 200], fill=(220, 30, 30))
    png = io.BytesIO()
    image.save(png, format="PNG")
    n = args.max_new_tokens
    golden, worst = {"prompts": []}, 0.0
    cases = [("text", "An image of", None), ("story", "Once upon a time", None),
             ("image", "<grounding>An image of", image), ("caption", "An image of", image)]
    for name, text, img in cases:
        inputs = processor(text=text, images=img, return_tensors="pt")
        prompt = inputs["input_ids"]
        kw = dict(input_ids=prompt, attention_mask=inputs["attention_mask"])
        if img is not None:
            kw.update(pixel_values=inputs["pixel_values"].to(hf.dtype),
                      image_embeds_position_mask=inputs["image_embeds_position_mask"])
        # A text-only prompt goes to the text model (the full model insists on an image).
        model = hf if img is not None else hf.text_model
        with torch.no_grad():
            ref = model.generate(**kw, max_new_tokens=n, do_sample=False, num_beams=1)
            ref_logits = model(**kw).logits[0, -1].float()
        out, first = greedy(scripted, tcfg, prompt,
                            inputs["pixel_values"] if img is not None else None,
                            inputs["image_embeds_position_mask"].bool() if img is not None
                            else None, n, tok.eos_token_id, dtype)
        expected = ref[0, prompt.shape[1]:].tolist()[:len(out)]
        diff = float((first - ref_logits).abs().max())
        worst = max(worst, diff)
        print(f"{name}: ours {out}")
        print(f"{name}: hf   {expected}")
        print(f"{name}: {tok.decode(expected)!r}")
        print(f"{name}: max |logit difference| at the first position {diff:.2e}")
        if out != expected:
            raise SystemExit(f"{name}: the exported model does not reproduce Hugging Face's "
                             "greedy tokens")
        if diff > tolerance:
            raise SystemExit(f"{name}: logits differ by {diff:.2e} > {tolerance:.0e}")
        case = {"name": name, "text": text, "prompt_ids": prompt[0].tolist(), "max_tokens": n,
                "ids": out}
        if img is not None:
            pv = inputs["pixel_values"][0]
            case["image"] = {"png_base64": base64.b64encode(png.getvalue()).decode("ascii"),
                             "pixel_values_sample": [
                                 [c, y, x, float(pv[c, y, x])]
                                 for c, y, x in [(0, 0, 0), (0, 112, 80), (1, 60, 200),
                                                 (2, 223, 223)]]}
            # What post_process_generation makes of the whole answer (prompt + generated).
            decoded = tok.decode(ref[0, prompt.shape[1]:], skip_special_tokens=True)
            cleaned, entities = processor.post_process_generation(decoded)
            case["grounding"] = {"decoded": decoded, "text": cleaned, "entities": [
                {"label": e[0], "start": e[1][0], "end": e[1][1],
                 "boxes": [list(b) for b in e[2]]} for e in entities]}
        golden["prompts"].append(case)

    # The text prompts in one left-padded batch through Hugging Face's generate. Its positions
    # count real tokens in the prompt but all slots in later steps (create_position_ids_from_
    # input_ids with past_key_values_length), so a padded row can drift from its unbatched run;
    # the worker's positions are per row. Recorded when they agree, reported when they do not.
    texts = [c for c in cases if c[2] is None]
    tok.padding_side = "left"
    batch = processor(text=[c[1] for c in texts], return_tensors="pt", padding=True)
    batch = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
    with torch.no_grad():
        ref = hf.text_model.generate(**batch, max_new_tokens=n, do_sample=False, num_beams=1)
    rows = []
    for i, c in enumerate(texts):
        row = [t for t in ref[i, batch["input_ids"].shape[1]:].tolist()]
        if tok.eos_token_id in row:
            row = row[:row.index(tok.eos_token_id) + 1]
        rows.append(row)
    alone = [golden["prompts"][i]["ids"] for i, c in enumerate(cases) if c[2] is None]
    golden["batch"] = {"names": [c[0] for c in texts], "padding": "left",
                       "equals_alone": rows == alone}
    if rows == alone:
        golden["batch"]["ids"] = rows
        print("batch: Hugging Face's left-padded batch equals each prompt alone")
    else:
        print("batch: Hugging Face's left-padded batch differs from its unbatched runs "
              f"(its position ids count the padding): {rows} vs {alone}")

    # The tokenizer: Hugging Face's ids for texts with tags, Unicode and odd spacing.
    golden["tokenizer"] = []
    for text in ["The quick brown fox", "Hello!  How are   you?\n\nFine.", "naïve café – 東京 🚀",
                 "<grounding>An image of<phrase> a cat</phrase>", "  leading and trailing  ",
                 "Über den Wolken – 12,50 €"]:
        ids = tok(text, add_special_tokens=False)["input_ids"]
        golden["tokenizer"].append({"text": text, "ids": ids, "decoded": tok.decode(ids)})
    # Grounding: generated ids with phrases and boxes, decoded and post-processed by Hugging Face
    # (processor.post_process_generation), so the worker's decode + Grounding.parse compare.
    golden["grounding"] = []
    for text in ["<phrase> a snowman</phrase><object><patch_index_0044><patch_index_0863>"
                 "</object> warming himself by<phrase> a fire</phrase><object>"
                 "<patch_index_0005><patch_index_0911></object>.",
                 "<phrase> two cats</phrase><object><patch_index_0000><patch_index_0100>"
                 "</delimiter_of_multi_objects/><patch_index_0500><patch_index_1023></object>",
                 " a plain caption without boxes."]:
        gen_ids = tok(text, add_special_tokens=False)["input_ids"]
        decoded = tok.decode(gen_ids, skip_special_tokens=True)
        cleaned, entities = processor.post_process_generation(decoded)
        golden["grounding"].append({
            "ids": gen_ids, "decoded": decoded, "text": cleaned,
            "entities": [{"label": e[0], "start": e[1][0], "end": e[1][1],
                          "boxes": [list(b) for b in e[2]]} for e in entities]})
    with open(os.path.join(args.out_dir, "golden.json"), "w") as f:
        json.dump(golden, f, indent=1)
    print(f"wrote {args.out_dir}: tokens equal Hugging Face's, logits within {worst:.2e}")


if __name__ == "__main__":
    main()
