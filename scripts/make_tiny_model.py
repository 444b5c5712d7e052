#!/usr/bin/python3
"""Generates the tiny Kosmos-shaped model the repository ships (model/tiny-kosmos/).

Reproducible: fixed seeds, one thread, no downloads. Needs Debian's python3-torch
(`apt-get install python3-torch`, run with /usr/bin/python3). CI never runs this; it only reads
the committed output. Re-run it after changing the architecture, then commit all four files:

    /usr/bin/python3 scripts/make_tiny_model.py model/tiny-kosmos

Outputs
  model.pt        TorchScript with the methods the worker calls: encode_image, prefill, decode_step
  tokenizer.json  Hugging Face byte-level BPE with Kosmos-2's special, tag and <patch_index_XXXX> tokens
  config.json     the model directory contract (image size, mean/std, token ids, context length)
  golden.json     token ids the Java engine must reproduce (tokenizer and greedy decoding)

The shape follows Kosmos-2 at toy scale: a ViT-style patch-14 vision stub on 224 px images, a
latent-query resampler to 64 image tokens, and a causal decoder whose KV cache is allocated by the
caller and written in place (no torch.cat per step), so a 20,000-token context stays linear.
"""
import json
import math
import os
import re
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor
from typing import Optional

torch.manual_seed(1234)
torch.set_num_threads(1)

# ---------------------------------------------------------------- tokenizer
SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]  # ids 0..3, as in Kosmos-2 (bos 0, pad 1, eos 2)
TAGS = ["<image>", "</image>", "<grounding>", "<phrase>", "</phrase>", "<object>", "</object>",
        "</delimiter_of_multi_objects/>"]
NUM_PATCH_TOKENS = 1024  # 32 x 32 grid, as in Kosmos-2
PATCH_TOKENS = ["<patch_index_%04d>" % i for i in range(NUM_PATCH_TOKENS)]
NUM_MERGES = 420
# Pre-tokenizer split, applied identically here and by the tokenizer.json "Split" step.
SPLIT_PATTERN = r" ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+"

CORPUS = """\
An image of a snowman warming himself by a fire.
The quick brown fox jumps over the lazy dog.
Kosmos is a multimodal model that reads text and looks at images.
Once upon a time there was a small robot who wanted to see the sea.
The robot walked to the beach and looked at the waves for a long time.
A cat sits on a red chair next to the window.
Two dogs are playing with a ball in the park.
The weather today is sunny with a light wind from the west.
Hello! How can I help you today?
The answer is forty two.
Please summarise the following text in one sentence.
A man is riding a bicycle down a quiet street.
A bowl of fruit on a wooden table.
The train leaves the station at seven in the morning.
Paris is the capital of France, and Berlin is the capital of Germany.
Water boils at one hundred degrees at sea level.
The model answers questions, writes stories and describes pictures.
Thank you for using the Kosmos API.
It is a picture of a house with a green door.
The children are reading books in the library.
"""
GROUNDED = [
    "<grounding> An image of<phrase> a snowman</phrase><object><patch_index_0044><patch_index_0863></object> warming himself by<phrase> a fire</phrase><object><patch_index_0005><patch_index_0911></object>.",
    "<grounding> An image of<phrase> two dogs</phrase><object><patch_index_0100><patch_index_0400></delimiter_of_multi_objects/><patch_index_0500><patch_index_0900></object> in a park.",
]


def bytes_to_unicode():
    """GPT-2's reversible byte -> printable unicode map, used by the ByteLevel pre-tokenizer."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


BYTE_MAP = bytes_to_unicode()


def pieces(text):
    return [ "".join(BYTE_MAP[b] for b in p.encode("utf-8")) for p in re.findall(SPLIT_PATTERN, text)]


def train_bpe(corpus, num_merges):
    words = {}
    for p in pieces(corpus):
        t = tuple(p)
        words[t] = words.get(t, 0) + 1
    merges = []
    for _ in range(num_merges):
        counts = {}
        for w, c in words.items():
            for a, b in zip(w, w[1:]):
                counts[(a, b)] = counts.get((a, b), 0) + c
        if not counts:
            break
        # Highest count; ties broken lexicographically so the result never depends on dict order.
        best = min(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0]
        if counts[best] < 2:
            break
        merges.append(best)
        new_words = {}
        for w, c in words.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    out.append(w[i] + w[i + 1])
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            new_words[tuple(out)] = new_words.get(tuple(out), 0) + c
        words = new_words
    return merges


class Tokenizer:
    def __init__(self, merges):
        self.vocab = {}
        for t in SPECIALS:
            self.vocab[t] = len(self.vocab)
        for b in range(256):
            self.vocab[BYTE_MAP[b]] = len(self.vocab)
        for a, b in merges:
            if a + b not in self.vocab:
                self.vocab[a + b] = len(self.vocab)
        for t in TAGS + PATCH_TOKENS:
            self.vocab[t] = len(self.vocab)
        self.ranks = {m: i for i, m in enumerate(merges)}
        self.merges = merges
        added = SPECIALS + TAGS + PATCH_TOKENS
        self.added_re = re.compile("|".join(re.escape(t) for t in sorted(added, key=len, reverse=True)))

    def bpe(self, piece):
        word = list(piece)
        while len(word) > 1:
            pairs = [(self.ranks.get((a, b), 1 << 30), i) for i, (a, b) in enumerate(zip(word, word[1:]))]
            rank, i = min(pairs)
            if rank == 1 << 30:
                break
            word = word[:i] + [word[i] + word[i + 1]] + word[i + 2:]
        return [self.vocab[t] for t in word]

    def encode(self, text):
        ids, pos = [], 0
        for m in self.added_re.finditer(text):
            for p in pieces(text[pos:m.start()]):
                ids += self.bpe(p)
            ids.append(self.vocab[m.group(0)])
            pos = m.end()
        for p in pieces(text[pos:]):
            ids += self.bpe(p)
        return ids

    def decode(self, ids):
        inv = {v: k for k, v in self.vocab.items()}
        unbyte = {c: b for b, c in BYTE_MAP.items()}
        out, buf = [], bytearray()
        for i in ids:
            t = inv[i]
            if t in SPECIALS or t in TAGS or t.startswith("<patch_index_"):
                out.append(buf.decode("utf-8", "replace"))
                buf = bytearray()
                out.append(t)
            else:
                buf.extend(unbyte[c] for c in t)
        out.append(buf.decode("utf-8", "replace"))
        return "".join(out)

    def to_json(self):
        added = []
        for t in SPECIALS + TAGS + PATCH_TOKENS:
            added.append({"id": self.vocab[t], "content": t, "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": False, "special": t in SPECIALS})
        return {
            "version": "1.0",
            "truncation": None,
            "padding": None,
            "added_tokens": added,
            "normalizer": None,
            "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
                {"type": "Split", "pattern": {"Regex": SPLIT_PATTERN}, "behavior": "Isolated", "invert": False},
                {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False},
            ]},
            "post_processor": None,
            "decoder": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False},
            "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                      "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                      "vocab": self.vocab, "merges": [a + " " + b for a, b in self.merges]},
        }


# ---------------------------------------------------------------- model
D_MODEL, N_LAYERS, N_HEADS, N_IMG = 64, 2, 4, 64
IMAGE_SIZE, PATCH = 224, 14
MAX_CONTEXT = 20608  # 20,000 prompt+output tokens plus room for <s>, the image block and slack
# Masked scores use -1e9, not -inf: a fully masked row (left padding) must stay finite, never NaN


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.dh = d // heads
        self.ln1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, 4 * d)
        self.fc2 = nn.Linear(4 * d, d)

    def forward(self, h: Tensor, k_cache: Tensor, v_cache: Tensor, mask: Tensor, start: int) -> Tensor:
        b, t, d = h.shape
        q, k, v = self.qkv(self.ln1(h)).split(d, dim=2)
        q = q.view(b, t, self.heads, self.dh).transpose(1, 2)
        k = k.view(b, t, self.heads, self.dh).transpose(1, 2)
        v = v.view(b, t, self.heads, self.dh).transpose(1, 2)
        # The cache is preallocated by the caller; write this chunk in place.
        k_cache[:, :, start:start + t] = k
        v_cache[:, :, start:start + t] = v
        s = start + t
        att = torch.matmul(q, k_cache[:, :, :s].transpose(-1, -2)) * (1.0 / math.sqrt(self.dh))
        att = att.masked_fill(torch.logical_not(mask), -1.0e9)
        out = torch.matmul(torch.softmax(att, dim=-1), v_cache[:, :, :s])
        h = h + self.proj(out.transpose(1, 2).reshape(b, t, d))
        return h + self.fc2(F.gelu(self.fc1(self.ln2(h))))


class TinyKosmos(nn.Module):
    def __init__(self, vocab_size):
        super().__init__()
        self.patch_embed = nn.Conv2d(3, D_MODEL, PATCH, PATCH)
        self.latents = nn.Parameter(torch.randn(N_IMG, D_MODEL) * 0.02)
        self.img_proj = nn.Linear(D_MODEL, D_MODEL)
        self.embed = nn.Embedding(vocab_size, D_MODEL)
        self.blocks = nn.ModuleList([Block(D_MODEL, N_HEADS) for _ in range(N_LAYERS)])
        self.norm = nn.LayerNorm(D_MODEL)
        self.lm_head = nn.Linear(D_MODEL, vocab_size, bias=False)
        inv = torch.exp(torch.arange(0, D_MODEL, 2, dtype=torch.float32) * (-math.log(10000.0) / D_MODEL))
        self.register_buffer("inv_freq", inv)
        self.image_scale = 1.0 / math.sqrt(D_MODEL)

    @torch.jit.export
    def encode_image(self, pixel_values: Tensor) -> Tensor:
        """[B,3,224,224] normalised pixels -> [B,64,D] image embeddings (latent-query resampler)."""
        p = self.patch_embed(pixel_values).flatten(2).transpose(1, 2)  # [B,256,D]
        att = torch.softmax(torch.matmul(self.latents, p.transpose(1, 2)) * self.image_scale, dim=-1)
        return self.img_proj(torch.matmul(att, p))

    def _positions(self, position_ids: Tensor) -> Tensor:
        ang = position_ids.to(torch.float32).unsqueeze(-1) * self.inv_freq
        return torch.cat([torch.sin(ang), torch.cos(ang)], dim=-1)

    def _run(self, h: Tensor, position_ids: Tensor, k_cache: Tensor, v_cache: Tensor,
             key_mask: Tensor, start: int) -> Tensor:
        b, t, _ = h.shape
        s = start + t
        h = h + self._positions(position_ids)
        rows = torch.arange(start, s, device=h.device).unsqueeze(1)
        cols = torch.arange(0, s, device=h.device).unsqueeze(0)
        causal = (cols <= rows).unsqueeze(0).unsqueeze(0)  # [1,1,T,S]
        mask = causal & key_mask[:, :s].unsqueeze(1).unsqueeze(1)  # [B,1,T,S]
        i = 0
        for block in self.blocks:
            h = block(h, k_cache[i], v_cache[i], mask, start)
            i += 1
        return self.lm_head(self.norm(h))

    @torch.jit.export
    def prefill(self, input_ids: Tensor, position_ids: Tensor, image_embeds: Tensor, image_mask: Tensor,
                k_cache: Tensor, v_cache: Tensor, key_mask: Tensor, start: int) -> Tensor:
        """Runs a chunk [B,T] written at cache columns start..start+T; returns the last logits [B,V].

        image_embeds [B,N,D] replace the embeddings where image_mask [B,T] is true (row-major order).
        k_cache/v_cache [L,B,H,C,Dh] are written in place; key_mask [B,C] marks real (non-pad) columns.
        """
        h = self.embed(input_ids)
        h = h.masked_scatter(image_mask.unsqueeze(-1), image_embeds.to(h.dtype))
        logits = self._run(h, position_ids, k_cache, v_cache, key_mask, start)
        return logits[:, -1]

    @torch.jit.export
    def decode_step(self, input_ids: Tensor, position_ids: Tensor, k_cache: Tensor, v_cache: Tensor,
                    key_mask: Tensor, start: int) -> Tensor:
        """One token per sequence [B,1] at cache column start; returns logits [B,V]."""
        return self._run(self.embed(input_ids), position_ids, k_cache, v_cache, key_mask, start)[:, -1]

    @torch.jit.unused
    def forward(self, input_ids: Tensor, pixel_values: Optional[Tensor] = None,
                image_mask: Optional[Tensor] = None) -> Tensor:
        b, t = input_ids.shape
        hd = D_MODEL // N_HEADS
        # Training only: a fresh cache per layer, so autograd never sees one buffer written twice.
        h = self.embed(input_ids)
        if pixel_values is not None:
            h = h.masked_scatter(image_mask.unsqueeze(-1), self.encode_image(pixel_values))
        h = h + self._positions(torch.arange(t).unsqueeze(0).expand(b, t))
        causal = torch.tril(torch.ones(t, t, dtype=torch.bool)).unsqueeze(0).unsqueeze(0)
        for block in self.blocks:
            h = block(h, torch.zeros(b, N_HEADS, t, hd), torch.zeros(b, N_HEADS, t, hd), causal, 0)
        return self.lm_head(self.norm(h))


def pad_batch(seqs):
    t = max(len(s) for s in seqs)
    batch = torch.full((len(seqs), t), 1, dtype=torch.long)
    for i, s in enumerate(seqs):
        batch[i, :len(s)] = torch.tensor(s)
    target = batch[:, 1:].clone()
    target[target == 1] = -100  # padding and image placeholders predict nothing
    return batch, target


def train(model, seqs, image_seqs, images, steps=400):
    """A short, deterministic training run so the shipped model answers in English-like text,
    learns to stop (EOS) and, after an image with <grounding>, emits grounded phrases with boxes,
    which makes the local stack's demo and the image tests meaningful. Not a quality model."""
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    batch, target = pad_batch(seqs)
    img_batch, img_target = pad_batch(image_seqs)
    img_mask = torch.zeros(img_batch.shape, dtype=torch.bool)
    img_mask[:, 2:2 + N_IMG] = True
    for step in range(steps):
        logits = model(batch[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=-100)
        img_logits = model(img_batch[:, :-1], images, img_mask[:, :-1])
        loss = loss + F.cross_entropy(img_logits.reshape(-1, img_logits.shape[-1]), img_target.reshape(-1),
                                      ignore_index=-100)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return float(loss)


def greedy(module, ids, n, image=None, image_positions=0):
    """Reference greedy loop through the exported methods (what the Java engine must reproduce)."""
    hd = D_MODEL // N_HEADS
    cap = len(ids) + n
    k = torch.zeros(N_LAYERS, 1, N_HEADS, cap, hd)
    v = torch.zeros(N_LAYERS, 1, N_HEADS, cap, hd)
    key_mask = torch.ones(1, cap, dtype=torch.bool)
    inp = torch.tensor([ids])
    pos = torch.arange(len(ids)).unsqueeze(0)
    img_mask = torch.zeros(1, len(ids), dtype=torch.bool)
    if image is None:
        emb = torch.zeros(1, 0, D_MODEL)
    else:
        emb = module.encode_image(image)
        img_mask[0, 2:2 + N_IMG] = True
    logits = module.prefill(inp, pos, emb, img_mask, k, v, key_mask, 0)
    out = []
    p = len(ids)
    for _ in range(n):
        tok = int(torch.argmax(logits[0]))
        out.append(tok)
        if tok == 2:
            break
        logits = module.decode_step(torch.tensor([[tok]]), torch.tensor([[p]]), k, v, key_mask, p)
        p += 1
    return out


def synthetic_image():
    """Deterministic pixels the Java test can rebuild: value(c,y,x) = ((c*7 + y*3 + x) % 256) / 255."""
    c = torch.arange(3).view(3, 1, 1)
    y = torch.arange(IMAGE_SIZE).view(1, IMAGE_SIZE, 1)
    x = torch.arange(IMAGE_SIZE).view(1, 1, IMAGE_SIZE)
    raw = ((c * 7 + y * 3 + x) % 256).to(torch.float32) / 255.0
    mean = torch.tensor(MEAN).view(3, 1, 1)
    std = torch.tensor(STD).view(3, 1, 1)
    return ((raw - mean) / std).unsqueeze(0)


def random_image(seed):
    g = torch.Generator().manual_seed(seed)
    raw = torch.rand(3, IMAGE_SIZE, IMAGE_SIZE, generator=g)
    mean = torch.tensor(MEAN).view(3, 1, 1)
    std = torch.tensor(STD).view(3, 1, 1)
    return ((raw - mean) / std).unsqueeze(0)


MEAN = [0.48145466, 0.4578275, 0.40821073]
STD = [0.26862954, 0.26130258, 0.27577711]


def main(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    tok = Tokenizer(train_bpe(CORPUS + "\n".join(GROUNDED), NUM_MERGES))
    vocab_size = len(tok.vocab)
    model = TinyKosmos(vocab_size)
    seqs = [[0] + tok.encode(line) + [2] for line in CORPUS.strip().split("\n")]
    seqs += [[0] + tok.encode(g) + [2] for g in GROUNDED]
    # Image + <grounding> + " An image of" -> a grounded caption, on a few different images, so
    # any image gets a caption with objects from the tiny model.
    image_head = [0, tok.vocab["<image>"]] + [1] * N_IMG + [tok.vocab["</image>"]]
    caption = tok.encode(GROUNDED[0])  # starts with <grounding>
    images = torch.cat([synthetic_image(), random_image(1), random_image(2), random_image(3)])
    image_seqs = [image_head + caption + [2] for _ in range(images.shape[0])]
    loss = train(model, seqs, image_seqs, images)
    model.eval()
    # Frozen weights: without this every inference call would record an autograd graph through
    # the in-place KV-cache writes, growing memory with each decoded token.
    model.requires_grad_(False)
    scripted = torch.jit.script(model)
    scripted.save(os.path.join(out_dir, "model.pt"))
    with open(os.path.join(out_dir, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tok.to_json(), f, ensure_ascii=False, separators=(",", ":"))
    config = {
        "model_type": "kosmos-2-tiny",
        "description": "Tiny Kosmos-shaped model for tests and the local stack; generated by scripts/make_tiny_model.py",
        "image_size": IMAGE_SIZE, "patch_size": PATCH, "image_mean": MEAN, "image_std": STD,
        "num_image_tokens": N_IMG, "max_context": MAX_CONTEXT,
        "hidden_size": D_MODEL, "num_layers": N_LAYERS, "num_heads": N_HEADS, "head_dim": D_MODEL // N_HEADS,
        "vocab_size": vocab_size,
        "bos_token_id": 0, "pad_token_id": 1, "eos_token_id": 2, "unk_token_id": 3,
        "image_token_id": tok.vocab["<image>"], "image_end_token_id": tok.vocab["</image>"],
        "grounding_token_id": tok.vocab["<grounding>"],
        "phrase_token_id": tok.vocab["<phrase>"], "phrase_end_token_id": tok.vocab["</phrase>"],
        "object_token_id": tok.vocab["<object>"], "object_end_token_id": tok.vocab["</object>"],
        "delimiter_token_id": tok.vocab["</delimiter_of_multi_objects/>"],
        "patch_index_token_offset": tok.vocab["<patch_index_0000>"], "num_patch_index_tokens": NUM_PATCH_TOKENS,
    }
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    loaded = torch.jit.load(os.path.join(out_dir, "model.pt"))
    tokenizer_cases = ["The quick brown fox", "Hello!  How are   you?\n\nFine.", "naïve café – 東京 🚀",
                       GROUNDED[0], "<s>Once upon a time</s>"]
    prompts = ["Once upon a time", "The weather today", "A cat sits"]
    golden = {
        "tokenizer": [{"text": t, "ids": tok.encode(t)} for t in tokenizer_cases],
        "greedy": [],
        "training_loss": round(loss, 4),
    }
    for p in prompts:
        ids = [0] + tok.encode(p)
        golden["greedy"].append({"prompt": p, "prompt_ids": ids, "max_tokens": 24, "ids": greedy(loaded, ids, 24)})
    img_ids = [0, tok.vocab["<image>"]] + [1] * N_IMG + [tok.vocab["</image>"], tok.vocab["<grounding>"]] + tok.encode(" An image of")
    img_out = greedy(loaded, img_ids, 48, image=synthetic_image())
    golden["image"] = {"prompt_ids": img_ids, "image_positions": [2, 2 + N_IMG], "max_tokens": 48,
                       "ids": img_out, "text": tok.decode(img_out)}
    with open(os.path.join(out_dir, "golden.json"), "w", encoding="utf-8") as f:
        json.dump(golden, f, ensure_ascii=False, indent=1)
    print("vocab", vocab_size, "loss", round(loss, 4), "params", sum(p.numel() for p in model.parameters()))
    for g in golden["greedy"]:
        print(repr(g["prompt"]), "->", g["ids"])
    print("image ->", repr(golden["image"]["text"]))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "model/tiny-kosmos")
