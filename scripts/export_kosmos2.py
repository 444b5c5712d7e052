#!/usr/bin/env python3
"""Exports a Hugging Face Kosmos-2 checkpoint into the worker's model directory format.

    pip install torch transformers            # a machine with internet and ~8 GB of RAM
    python3 scripts/export_kosmos2.py microsoft/kosmos-2-patch14-224 models/kosmos-2 [--fp16]

It cannot run on the development machine (no internet, no transformers, no weights); the Java side
of the contract is tested with the tiny model that scripts/make_tiny_model.py generates, which has
exactly the same methods, argument order and cache layout. After exporting, the script checks the
TorchScript module against the Hugging Face model on one image prompt (greedy tokens must match)
and writes golden.json, which TinyKosmosEngineIT-style tests can then use for the real weights.

Output (the model directory contract, see README "Model directory contract"):
  model.pt        TorchScript: encode_image(pixel_values) -> [B,64,D]
                  prefill(input_ids, position_ids, image_embeds, image_mask, k_cache, v_cache,
                          key_mask, start) -> logits [B,V] of the chunk's last position
                  decode_step(input_ids, position_ids, k_cache, v_cache, key_mask, start) -> [B,V]
                  Caches are [L,B,H,C,Dh], allocated by the caller and written in place.
  tokenizer.json  the checkpoint's fast tokenizer (XLM-R sentencepiece BPE + Kosmos-2 tags)
  config.json     image size, CLIP mean/std, token ids, 64 image tokens, max context

Facts this relies on (transformers' modeling_kosmos2.py):
  * vision: CLIP ViT-L/14 -> post_layernorm -> L2 normalise -> image_to_text_projection (a latent
    query resampler) -> 64 embeddings; they replace the placeholders after <image> (img_attn_mask).
  * text: token embeddings x embed_scale, plus sinusoidal positions offset by padding_idx + 1
    (Kosmos-2 counts positions from pad id + 1 = 2); pre-LN blocks with an inner FFN layernorm.
  * Kosmos-2 was trained on 2,048 positions; max_context is written as 2,048 for the real model.
    The worker enforces min(20,000, max_context): longer prompts fail with context_length_exceeded
    rather than degrading silently. Raise it only for a model trained for longer contexts.
"""
import argparse
import json
import math
import os

import torch
import torch.nn as nn
from torch import Tensor


class KosmosExport(nn.Module):
    """Kosmos-2 with a caller-owned, preallocated KV cache (no torch.cat per step)."""

    def __init__(self, hf):
        super().__init__()
        self.vision = hf.vision_model
        self.projection = hf.image_to_text_projection
        text = hf.text_model.model
        self.embed_tokens = text.embed_tokens
        self.embed_scale = float(text.embed_scale)
        self.layers = text.layers
        self.layer_norm = text.layer_norm
        self.lm_head = hf.text_model.lm_head
        cfg = hf.config.text_config
        self.num_heads = cfg.attention_heads
        self.head_dim = cfg.embed_dim // cfg.attention_heads
        self.padding_idx = cfg.pad_token_id
        # The sinusoidal table HF builds (fairseq layout: sin then cos halves).
        self.register_buffer("pos_weights", text.embed_positions.weights.detach().clone())

    @torch.jit.export
    def encode_image(self, pixel_values: Tensor) -> Tensor:
        out = self.vision(pixel_values=pixel_values)
        h = self.vision.model.post_layernorm(out[0])
        h = nn.functional.normalize(h, dim=-1)
        embeds, _ = self.projection(h)
        return embeds

    def _attend(self, layer, h: Tensor, k_cache: Tensor, v_cache: Tensor, mask: Tensor, start: int):
        attn = layer.self_attn
        b, t, d = h.shape
        q = attn.q_proj(h) * (self.head_dim ** -0.5)
        k = attn.k_proj(h)
        v = attn.v_proj(h)
        q = q.view(b, t, self.num_heads, self.head_dim).transpose(1, 2)
        k = k.view(b, t, self.num_heads, self.head_dim).transpose(1, 2)
        v = v.view(b, t, self.num_heads, self.head_dim).transpose(1, 2)
        k_cache[:, :, start:start + t] = k
        v_cache[:, :, start:start + t] = v
        s = start + t
        att = torch.matmul(q, k_cache[:, :, :s].transpose(-1, -2))
        att = att.masked_fill(torch.logical_not(mask), -1.0e9)
        out = torch.matmul(torch.softmax(att.float(), dim=-1).to(v.dtype), v_cache[:, :, :s])
        out = out.transpose(1, 2).reshape(b, t, d)
        if attn.inner_attn_ln is not None:
            out = attn.inner_attn_ln(out)
        return attn.out_proj(out)

    def _run(self, h: Tensor, position_ids: Tensor, k_cache: Tensor, v_cache: Tensor,
             key_mask: Tensor, start: int) -> Tensor:
        b, t, _ = h.shape
        s = start + t
        # HF positions start at padding_idx + 1 for the first real token.
        h = h + self.pos_weights[position_ids + self.padding_idx + 1].to(h.dtype)
        rows = torch.arange(start, s, device=h.device).unsqueeze(1)
        cols = torch.arange(0, s, device=h.device).unsqueeze(0)
        mask = (cols <= rows).unsqueeze(0).unsqueeze(0) & key_mask[:, :s].unsqueeze(1).unsqueeze(1)
        i = 0
        for layer in self.layers:
            residual = h
            h = layer.self_attn_layer_norm(h)
            h = residual + self._attend(layer, h, k_cache[i], v_cache[i], mask, start)
            residual = h
            h = layer.final_layer_norm(h)
            h = layer.ffn.activation_fn(layer.ffn.fc1(h))
            h = layer.ffn.ffn_layernorm(h)
            h = residual + layer.ffn.fc2(h)
            i += 1
        return self.lm_head(self.layer_norm(h))

    @torch.jit.export
    def prefill(self, input_ids: Tensor, position_ids: Tensor, image_embeds: Tensor, image_mask: Tensor,
                k_cache: Tensor, v_cache: Tensor, key_mask: Tensor, start: int) -> Tensor:
        h = self.embed_tokens(input_ids) * self.embed_scale
        h = h.masked_scatter(image_mask.unsqueeze(-1), image_embeds.to(h.dtype))
        return self._run(h, position_ids, k_cache, v_cache, key_mask, start)[:, -1].float()

    @torch.jit.export
    def decode_step(self, input_ids: Tensor, position_ids: Tensor, k_cache: Tensor, v_cache: Tensor,
                    key_mask: Tensor, start: int) -> Tensor:
        h = self.embed_tokens(input_ids) * self.embed_scale
        return self._run(h, position_ids, k_cache, v_cache, key_mask, start)[:, -1].float()

    def forward(self, input_ids: Tensor) -> Tensor:
        return input_ids


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("checkpoint", help="e.g. microsoft/kosmos-2-patch14-224 or a local folder")
    ap.add_argument("out_dir")
    ap.add_argument("--fp16", action="store_true", help="half precision weights (GPU serving)")
    args = ap.parse_args()
    from transformers import AutoProcessor, Kosmos2ForConditionalGeneration

    processor = AutoProcessor.from_pretrained(args.checkpoint)
    hf = Kosmos2ForConditionalGeneration.from_pretrained(args.checkpoint).eval()
    hf.requires_grad_(False)
    module = KosmosExport(hf).eval()
    if args.fp16:
        module = module.half()
    scripted = torch.jit.script(module)
    os.makedirs(args.out_dir, exist_ok=True)
    scripted.save(os.path.join(args.out_dir, "model.pt"))
    processor.tokenizer.backend_tokenizer.save(os.path.join(args.out_dir, "tokenizer.json"))

    tok = processor.tokenizer
    ip = processor.image_processor
    tcfg = hf.config.text_config
    ids = lambda t: tok.convert_tokens_to_ids(t)
    config = {
        "model_type": "kosmos-2",
        "description": "Exported from " + args.checkpoint + " by scripts/export_kosmos2.py",
        "image_size": ip.size["height"] if isinstance(ip.size, dict) else ip.size,
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
    }
    with open(os.path.join(args.out_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=2)

    # Check: the exported greedy loop reproduces Hugging Face's generate on one image prompt.
    from PIL import Image
    image = Image.new("RGB", (224, 224), (200, 120, 40))
    inputs = processor(text="<grounding>An image of", images=image, return_tensors="pt")
    ref = hf.generate(pixel_values=inputs["pixel_values"], input_ids=inputs["input_ids"],
                      attention_mask=inputs["attention_mask"], image_embeds_position_mask=inputs["image_embeds_position_mask"],
                      max_new_tokens=24, do_sample=False, num_beams=1)
    prompt = inputs["input_ids"]
    n = 24
    L, H, Dh = tcfg.layers, tcfg.attention_heads, tcfg.embed_dim // tcfg.attention_heads
    dtype = torch.float16 if args.fp16 else torch.float32
    k = torch.zeros(L, 1, H, prompt.shape[1] + n, Dh, dtype=dtype)
    v = torch.zeros_like(k)
    key_mask = torch.ones(1, prompt.shape[1] + n, dtype=torch.bool)
    emb = scripted.encode_image(inputs["pixel_values"].to(dtype))
    pos = torch.arange(prompt.shape[1]).unsqueeze(0)
    logits = scripted.prefill(prompt, pos, emb, inputs["image_embeds_position_mask"].bool(), k, v, key_mask, 0)
    out, p = [], prompt.shape[1]
    for _ in range(n):
        t = int(torch.argmax(logits[0]))
        out.append(t)
        if t == tok.eos_token_id:
            break
        logits = scripted.decode_step(torch.tensor([[t]]), torch.tensor([[p]]), k, v, key_mask, p)
        p += 1
    expected = ref[0, prompt.shape[1]:].tolist()[:len(out)]
    print("exported:", tok.decode(out))
    print("hf      :", tok.decode(expected))
    if out != expected:
        raise SystemExit("the exported model does not reproduce Hugging Face's greedy tokens")
    with open(os.path.join(args.out_dir, "golden.json"), "w") as f:
        json.dump({"image": {"prompt_ids": prompt[0].tolist(), "ids": out}}, f)
    print("wrote", args.out_dir)


if __name__ == "__main__":
    main()
