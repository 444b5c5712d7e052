#!/usr/bin/env python3
"""Builds the tiny Hugging Face Kosmos-2 checkpoint the project ships, offline (no download).

    python3 scripts/make_tiny_checkpoint.py OUT_DIR [--steps N]
    python3 scripts/export_kosmos2.py OUT_DIR model/tiny-kosmos

OUT_DIR gets what `save_pretrained` writes for a real checkpoint: the model
(Kosmos2ForConditionalGeneration) and its processor (CLIP image processor + an XLM-R-style fast
tokenizer). The tokenizer is the same family as Kosmos-2's: a SentencePiece-style Unigram model
with NFKC and Metaspace, specials <s> 0, <pad> 1, </s> 2, <unk> 3, trained here on a small corpus;
Kosmos2Processor adds the tag tokens and the 1,024 patch-index tokens, as it does for the real one.

The model is then trained for a couple of minutes on CPU, so the local stack answers like a
(very small) Kosmos-2 instead of printing noise:
  * text: a few dozen English sentences, so text jobs continue a prompt in English-like words;
  * images: synthetic pictures of coloured shapes with two captions each, a plain one
    ("An image of a red circle on a white background.") and a grounded one in Kosmos-2's format
    ("<grounding>An image of<phrase> a red circle</phrase><object><patch_index_0196>
    <patch_index_0627></object> on a white background."), the box from the shape's real extent,
    so image jobs return objects with boxes.
Everything is seeded (the tokenizer trainer on one thread, torch on two): the same command on
the same machine gives the same weights (about 10 minutes on this 2-core machine).
"""
import argparse
import json
import os
import random
import time

SENTENCES = [
    "Once upon a time there was a small robot who wanted to see the sea.",
    "Once upon a time there was a little red house by the sea.",
    "Once upon a time a young fox lived at the edge of a quiet forest.",
    "The robot walked for many days and nights until it reached the shore.",
    "The sea was blue and calm, and the robot watched the waves for hours.",
    "An image of a snowman warming himself by a fire.",
    "A cat sits on a mat next to a dog.",
    "The quick brown fox jumps over the lazy dog.",
    "A man rides a bicycle down a busy street in the city.",
    "Two children play with a ball in the park on a sunny day.",
    "The weather today is warm with a light breeze from the west.",
    "A bowl of fruit with apples, oranges and bananas on a table.",
    "The old lighthouse keeper climbed the stairs every evening to light the lamp.",
    "In the morning the market was full of people buying bread and fresh fish.",
    "She opened the window and the smell of rain filled the room.",
    "The train left the station at noon and arrived in the mountains at dusk.",
    "A small boat sailed across the lake while the sun went down.",
    "Hello, how are you today? I am fine, thank you.",
    "The answer to the question is simple: work hard and be kind.",
    "The city was quiet at night, and the streets were empty and wet.",
    "He wrote a long letter to his friend and sent it by post.",
    "Birds sang in the trees and the garden was full of flowers.",
    "The teacher asked the children to draw a picture of their home.",
    "A good model answers in short and clear sentences.",
    "The quick brown fox ran into the forest and was never seen again.",
    "Every summer the family went to the beach and built castles of sand.",
    # Beyond ASCII, so the tokenizer (and the Java side's decoding) meets accents, CJK, emoji and
    # line breaks as real prompts have them.
    "The naïve café owner served a crème brûlée to a guest from 東京.",
    "Hello! How are you?\n\nFine, thanks. The rocket 🚀 left at dawn.",
    "Über den Wolken – the sky was clear, and the price was 12,50 €.",
]
COLOURS = {"red": (220, 30, 30), "blue": (30, 60, 220), "green": (30, 160, 60),
           "yellow": (240, 210, 30), "black": (20, 20, 20), "orange": (250, 140, 20)}
BACKGROUNDS = {"white": (250, 250, 250), "gray": (128, 128, 128), "blue": (150, 190, 240),
               "green": (110, 180, 100)}
SHAPES = ["square", "circle", "triangle"]


def scene(rng):
    """One synthetic picture (PIL image) and its objects: (phrase, box in [0,1])."""
    from PIL import Image, ImageDraw
    w, h = rng.choice([(224, 224), (320, 240), (240, 320), (400, 300)])
    bg = rng.choice(list(BACKGROUNDS) + ["colourful"])
    if bg == "colourful":
        # A smooth two-colour gradient, like many photos (and the test suite's pictures).
        a, b = rng.sample(list(COLOURS.values()), 2)
        img = Image.new("RGB", (w, h))
        img.putdata([tuple((a[c] * (w - x) + b[c] * x) // w // 2 + 64 + y * 64 // h
                           for c in range(3)) for y in range(h) for x in range(w)])
    else:
        img = Image.new("RGB", (w, h), BACKGROUNDS[bg])
    draw = ImageDraw.Draw(img)
    objects = []
    for _ in range(rng.choice([1, 1, 2])):
        colour = rng.choice([c for c in COLOURS if c != bg])
        shape = rng.choice(SHAPES)
        sw, sh = rng.uniform(0.2, 0.5) * w, rng.uniform(0.2, 0.5) * h
        x0, y0 = rng.uniform(0, w - sw), rng.uniform(0, h - sh)
        xy = [x0, y0, x0 + sw, y0 + sh]
        if shape == "square":
            draw.rectangle(xy, fill=COLOURS[colour])
        elif shape == "circle":
            draw.ellipse(xy, fill=COLOURS[colour])
        else:
            draw.polygon([(x0, y0 + sh), (x0 + sw / 2, y0), (x0 + sw, y0 + sh)],
                         fill=COLOURS[colour])
        article = "an" if colour[0] in "aeiou" else "a"
        objects.append((f" {article} {colour} {shape}", (x0 / w, y0 / h, (x0 + sw) / w, (y0 + sh) / h)))
    return img, objects, bg


def captions(objects, bg):
    """The plain and the grounded caption of a scene, after the prompt "An image of"."""
    from transformers.models.kosmos2.processing_kosmos2 import coordinate_to_patch_index
    plain, grounded = [], []
    for phrase, box in objects:
        ul, lr = coordinate_to_patch_index(box, 32)
        plain.append(phrase)
        grounded.append(f"<phrase>{phrase}</phrase><object><patch_index_{ul:04d}>"
                        f"<patch_index_{lr:04d}></object>")
    tail = f" on a {bg} background."
    return " and".join(plain) + tail, " and".join(grounded) + tail


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out_dir")
    ap.add_argument("--vocab", type=int, default=500, help="Unigram vocabulary before the tags")
    ap.add_argument("--steps", type=int, default=2000, help="training steps (0: random weights)")
    ap.add_argument("--max-positions", type=int, default=20608,
                    help="max_position_embeddings: the tiny model serves the 20,000-token context")
    ap.add_argument("--full-size", action="store_true",
                    help="Kosmos2Config()'s own sizes (ViT-L/14, 24 x 2048 decoder, 65,037 ids,"
                         " 2,048 positions; about 1.7 B parameters) with random weights: the"
                         " architecture of microsoft/kosmos-2-patch14-224 without downloading it")
    args = ap.parse_args()

    # One thread for the Unigram trainer: its result otherwise depends on thread timing (ties in
    # the vocabulary order).
    os.environ["RAYON_NUM_THREADS"] = "1"
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    import torch
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import (CLIPImageProcessorPil, Kosmos2Config, Kosmos2ForConditionalGeneration,
                              Kosmos2Processor, XLMRobertaTokenizerFast)

    torch.manual_seed(0)
    torch.set_num_threads(2)
    rng = random.Random(20261202)
    scenes = [scene(rng) for _ in range(512)]
    caps = [captions(objects, bg) for _, objects, bg in scenes]

    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    trainer = trainers.UnigramTrainer(
        vocab_size=args.vocab, special_tokens=["<s>", "<pad>", "</s>", "<unk>"], unk_token="<unk>")
    corpus = SENTENCES * 20 + ["An image of" + plain for plain, _ in caps]
    tok.train_from_iterator(corpus, trainer=trainer)
    # Reproducible byte for byte: the trainer's scores vary in the last bits between runs (float
    # sums in varying order), which can swap tied pieces. Round them and order ties by piece.
    spec = json.loads(tok.to_str())
    vocab = spec["model"]["vocab"]
    specials, pieces = vocab[:4], vocab[4:]
    pieces = sorted(([p, round(score, 6)] for p, score in pieces), key=lambda e: (-e[1], e[0]))
    spec["model"]["vocab"] = specials + pieces
    if args.full_size:
        # Kosmos-2's vocabulary is 65,037 ids: fill the Unigram model with pieces no text
        # reaches, so every id the random model emits decodes like a real piece.
        fill = 65037 - 1035 - len(spec["model"]["vocab"])
        spec["model"]["vocab"] += [[f"▁unused{i}", -1000.0] for i in range(fill)]
    tok = Tokenizer.from_str(json.dumps(spec))
    os.makedirs(args.out_dir, exist_ok=True)
    raw = os.path.join(args.out_dir, "_raw_tokenizer.json")
    tok.save(raw)
    fast = XLMRobertaTokenizerFast(tokenizer_file=raw, bos_token="<s>", eos_token="</s>",
                                   unk_token="<unk>", pad_token="<pad>", cls_token="<s>",
                                   sep_token="</s>", mask_token="<unk>")
    # The PIL backend: what a machine without torchvision has. Kosmos-2's preprocessor config
    # sets use_square_size, which transformers' CLIPImageProcessor keeps "for backwards
    # compatibility of KOSMOS-2": resize to 224 x 224 (squashed, no aspect-preserving resize),
    # bicubic, then a 224 x 224 centre crop that is a no-op, CLIP mean and std. (The same
    # processor as an explicit size={"height": 224, "width": 224}: its to_dict() is identical.)
    image_processor = CLIPImageProcessorPil(
        use_square_size=True, image_mean=[0.48145466, 0.4578275, 0.40821073],
        image_std=[0.26862954, 0.26130258, 0.27577711])
    processor = Kosmos2Processor(image_processor, fast)
    os.remove(raw)
    vocab = len(processor.tokenizer)
    if args.full_size:
        config = Kosmos2Config(text_config=dict(vocab_size=vocab), latent_query_num=64)
        model = Kosmos2ForConditionalGeneration(config).eval()
        model.save_pretrained(args.out_dir)
        processor.save_pretrained(args.out_dir)
        print("full-size Kosmos-2 checkpoint (random weights) in", args.out_dir, "vocab", vocab,
              "parameters", sum(p.numel() for p in model.parameters()))
        return
    config = Kosmos2Config(
        text_config=dict(vocab_size=vocab, embed_dim=64, layers=2, attention_heads=4, ffn_dim=128,
                         max_position_embeddings=args.max_positions),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                           num_attention_heads=2, image_size=224, patch_size=14),
        latent_query_num=64)
    model = Kosmos2ForConditionalGeneration(config)
    if args.steps:
        train(model, processor, scenes, caps, args.steps, rng)
    model.eval()
    model.save_pretrained(args.out_dir)
    processor.save_pretrained(args.out_dir)
    print("tiny Kosmos-2 checkpoint in", args.out_dir, "vocab", vocab)


def train(model, processor, scenes, caps, steps, rng):
    """Teacher forcing on captions (image + prompt -> caption) and sentences (text only)."""
    import torch
    tok = processor.tokenizer
    eos, pad = tok.eos_token_id, tok.pad_token_id
    # Image examples: the worker's prompts ("An image of", with <grounding> when objects are
    # asked for); the loss covers only what follows the prompt, and the closing </s>.
    images = processor.image_processor([img for img, _, _ in scenes], return_tensors="pt")
    pixel_values = images["pixel_values"]
    examples = []
    for i, (plain, grounded) in enumerate(caps):
        for prompt, target in (("An image of", plain), ("<grounding>An image of", grounded)):
            p = processor(text=prompt, images=scenes[i][0], return_tensors="pt")
            full = processor(text=prompt + target, images=scenes[i][0], return_tensors="pt")
            ids = full["input_ids"][0].tolist() + [eos]
            examples.append((i, ids, p["input_ids"].shape[1],
                             full["image_embeds_position_mask"][0].tolist() + [0]))
    texts = [[tok.bos_token_id] + tok(s, add_special_tokens=False)["input_ids"] + [eos]
             for s in SENTENCES]

    def batch(rows):
        n = max(len(r[0]) for r in rows)
        ids = torch.full((len(rows), n), pad)
        labels = torch.full((len(rows), n), -100)
        attn = torch.zeros((len(rows), n), dtype=torch.long)
        for j, (seq, first) in enumerate(rows):
            ids[j, :len(seq)] = torch.tensor(seq)
            attn[j, :len(seq)] = 1
            labels[j, first:len(seq)] = torch.tensor(seq[first:])
        return ids, labels, attn

    def loss_of(logits, labels):
        return torch.nn.functional.cross_entropy(
            logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1),
            ignore_index=-100)

    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps,
                                                pct_start=0.1)
    model.train()
    started = time.time()
    for step in range(steps):
        chosen = rng.sample(examples, 16)
        ids, labels, attn = batch([(e[1], e[2]) for e in chosen])
        mask = torch.zeros_like(ids, dtype=torch.bool)
        for j, e in enumerate(chosen):
            mask[j, :len(e[3])] = torch.tensor(e[3], dtype=torch.bool)
        out = model(pixel_values=pixel_values[[e[0] for e in chosen]], input_ids=ids,
                    attention_mask=attn, image_embeds_position_mask=mask)
        image_loss = loss_of(out.logits, labels)
        t_ids, t_labels, t_attn = batch([(t, 1) for t in rng.sample(texts, 8)])
        text_loss = loss_of(model.text_model(input_ids=t_ids, attention_mask=t_attn).logits,
                            t_labels)
        loss = image_loss + text_loss
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % 100 == 0 or step == steps - 1:
            print(f"step {step}: image loss {image_loss.item():.3f}, text loss "
                  f"{text_loss.item():.3f} ({time.time() - started:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
