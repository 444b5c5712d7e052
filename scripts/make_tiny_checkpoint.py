#!/usr/bin/env python3
"""Builds a tiny Hugging Face Kosmos-2 checkpoint offline (random weights, no download).

    python3 scripts/make_tiny_checkpoint.py OUT_DIR

OUT_DIR gets what `save_pretrained` writes for a real checkpoint: the model
(Kosmos2ForConditionalGeneration) and its processor (CLIP image processor + an XLM-R-style fast
tokenizer). The tokenizer is the same family as Kosmos-2's: a SentencePiece-style Unigram model
with NFKC and Metaspace, specials <s> 0, <pad> 1, </s> 2, <unk> 3, trained here on a small corpus;
Kosmos2Processor adds the tag tokens and the 1,024 patch-index tokens, as it does for the real one.
It exists so that scripts/export_kosmos2.py can be run and checked end to end on this machine.
"""
import argparse
import json
import os

CORPUS = [
    "An image of a snowman warming himself by a fire.",
    "A cat sits on a mat next to a dog.",
    "The quick brown fox jumps over the lazy dog.",
    "Once upon a time there was a little red house by the sea.",
    "A man rides a bicycle down a busy street in the city.",
    "Two children play with a ball in the park on a sunny day.",
    "The weather today is warm with a light breeze from the west.",
    "A bowl of fruit with apples, oranges and bananas on a table.",
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out_dir")
    ap.add_argument("--vocab", type=int, default=400, help="Unigram vocabulary before the tags")
    args = ap.parse_args()

    # One thread: the Unigram trainer's result otherwise depends on thread timing (ties in the
    # vocabulary order), and the fixture must be reproducible byte for byte.
    os.environ["RAYON_NUM_THREADS"] = "1"
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    import torch
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import (CLIPImageProcessorPil, Kosmos2Config, Kosmos2ForConditionalGeneration,
                              Kosmos2Processor, XLMRobertaTokenizerFast)

    torch.manual_seed(0)
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    trainer = trainers.UnigramTrainer(
        vocab_size=args.vocab, special_tokens=["<s>", "<pad>", "</s>", "<unk>"], unk_token="<unk>")
    tok.train_from_iterator(CORPUS * 20, trainer=trainer)
    # Reproducible byte for byte: the trainer's scores vary in the last bits between runs (float
    # sums in varying order), which can swap tied pieces. Round them and order ties by piece.
    spec = json.loads(tok.to_str())
    vocab = spec["model"]["vocab"]
    specials, pieces = vocab[:4], vocab[4:]
    pieces = sorted(([p, round(score, 6)] for p, score in pieces), key=lambda e: (-e[1], e[0]))
    spec["model"]["vocab"] = specials + pieces
    tok = Tokenizer.from_str(json.dumps(spec))
    os.makedirs(args.out_dir, exist_ok=True)
    raw = os.path.join(args.out_dir, "_raw_tokenizer.json")
    tok.save(raw)
    fast = XLMRobertaTokenizerFast(tokenizer_file=raw, bos_token="<s>", eos_token="</s>",
                                   unk_token="<unk>", pad_token="<pad>", cls_token="<s>",
                                   sep_token="</s>", mask_token="<unk>")
    # The PIL backend: what a machine without torchvision has (the torchvision one gives the same
    # pixel values up to resampling differences).
    # Squashed to 224 x 224 (no aspect-preserving resize, so the crop is a no-op): what the
    # worker's ImagePreprocessor does.
    image_processor = CLIPImageProcessorPil(
        size={"height": 224, "width": 224}, crop_size={"height": 224, "width": 224},
        do_center_crop=True, image_mean=[0.48145466, 0.4578275, 0.40821073],
        image_std=[0.26862954, 0.26130258, 0.27577711])
    processor = Kosmos2Processor(image_processor, fast)
    os.remove(raw)
    vocab = len(processor.tokenizer)
    config = Kosmos2Config(
        text_config=dict(vocab_size=vocab, embed_dim=64, layers=2, attention_heads=4, ffn_dim=128,
                         max_position_embeddings=2048),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                           num_attention_heads=2, image_size=224, patch_size=14),
        latent_query_num=64)
    model = Kosmos2ForConditionalGeneration(config).eval()
    model.save_pretrained(args.out_dir)
    processor.save_pretrained(args.out_dir)
    print("tiny Kosmos-2 checkpoint in", args.out_dir, "vocab", vocab)


if __name__ == "__main__":
    main()
