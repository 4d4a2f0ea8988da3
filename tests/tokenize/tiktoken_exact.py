"""Strata's encoding of GPT-2's own vocabulary against tiktoken, token for token.

usage: tiktoken_exact.py STRATA_TOKENIZE GPT2_TIKTOKEN SCRATCH_DIR FILE...

Encodes each FILE (the licence texts in /usr/share/common-licenses, the README) and a set of
written texts (Unicode letters, numbers and spaces of many scripts, contractions, white-space runs,
long pieces that take the heap path) with `strata-tokenize encode` into llm.c token files and with
tiktoken.Encoding(pat_str=GPT-2's pattern, mergeable_ranks=load_tiktoken_bpe(GPT2_TIKTOKEN),
special_tokens={'<|endoftext|>': 50256}).encode_ordinary, and requires identical tokens; then
decodes Strata's file and requires the original bytes. Exit 77 (skipped) with the reason when
tiktoken or the rank file is missing.
"""
import os
import random
import struct
import subprocess
import sys

SKIP = 77
PAT = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


def written_texts():
    rng = random.Random(20240520)
    pieces = ["Hello", " world", "it's", " they'll", " we've", " I'm", " you'd", " 'S", "'re",
              "  ", "   ", "\t", "\n", "\n\n", " \n ", "\r\n", "12345", " 42", "３４", "٣", "Ⅻ",
              "café", " naïve", " Ελληνικά", " русский", " 中文字符", " 日本語の", " 한국어",
              " עברית", " العربية", " हिन्दी", "🙂", " 🚀🚀", "\u00a0", "\u2003", "\u3000", "\u180e",
              "\u200b", "\u0085", "!!", " ...", "--", " $%^", "_", "__init__", "'", " '", "x'y",
              "\u0301", "e\u0301", " \u2028", "ǅ", "ß", "İ", "ﬁ", "\U0001d400", "\x00", "\x7f"]
    texts = []
    for _ in range(40):
        texts.append("".join(rng.choice(pieces) for _ in range(rng.randint(1, 300))))
    texts.append("a" * 5000)                        # one long piece: the heap path
    texts.append(" " * 3000 + "x")                   # a long white-space run
    texts.append("".join(rng.choice("abcdefghij") for _ in range(20000)))
    texts.append("".join(chr(rng.randint(0x4e00, 0x9fff)) for _ in range(3000)))
    texts.append("1234567890" * 500)
    return texts


def read_tokens(path):
    with open(path, "rb") as f:
        data = f.read()
    magic, version, n = struct.unpack("<3i", data[:12])
    width = {20240520: 2, 20240801: 4}[magic]
    assert len(data) == 1024 + width * n, f"{path}: size {len(data)} for {n} tokens"
    return list(struct.unpack(f"<{n}{'H' if width == 2 else 'I'}", data[1024:]))


def main():
    tool, rank_file, scratch, files = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    try:
        import tiktoken
        from tiktoken.load import load_tiktoken_bpe
    except ImportError as e:
        print(f"SKIP: tiktoken is not installed for {sys.executable} ({e}); .ci/run installs it "
              "(scripts/python-refs.sh)")
        return SKIP
    if not os.path.isfile(rank_file):
        print(f"SKIP: GPT-2's rank file {rank_file} is missing (scripts/python-refs.sh fetches it "
              "from PyPI's openai-whisper: whisper/assets/gpt2.tiktoken)")
        return SKIP
    enc = tiktoken.Encoding("gpt2-file", pat_str=PAT, mergeable_ranks=load_tiktoken_bpe(rank_file),
                            special_tokens={"<|endoftext|>": 50256})
    os.makedirs(scratch, exist_ok=True)
    cases = []
    for f in files:
        with open(f, "rb") as fp:
            cases.append((f, fp.read()))
    for i, t in enumerate(written_texts()):
        path = os.path.join(scratch, f"written_{i}.txt")
        with open(path, "wb") as fp:
            fp.write(t.encode("utf-8"))
        cases.append((path, t.encode("utf-8")))
    # One strata-tokenize run for all texts (each file is encoded on its own, so the file's tokens
    # are the texts' tokens one after another), then one decode run.
    out = os.path.join(scratch, "cases.bin")
    subprocess.run([tool, "encode", "--tokenizer", rank_file, "--no-eot", "--out", out]
                   + [path for path, _ in cases], check=True, stdout=subprocess.DEVNULL)
    got_all = read_tokens(out)
    failed = total = 0
    for path, data in cases:
        want = enc.encode_ordinary(data.decode("utf-8"))
        got = got_all[total:total + len(want)]
        total += len(want)
        if got != want:
            failed += 1
            k = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
            print(f"FAIL {path}: first difference from tiktoken at token {k}: "
                  f"strata {got[k:k + 8]} tiktoken {want[k:k + 8]} near {enc.decode(want[max(0, k - 4):k + 4])!r}")
            break  # the texts after it are misaligned
    if not failed and len(got_all) != total:
        failed += 1
        print(f"FAIL: strata wrote {len(got_all)} tokens, tiktoken gives {total}")
    dec = os.path.join(scratch, "cases.txt")
    subprocess.run([tool, "decode", "--tokenizer", rank_file, "--out", dec, out], check=True)
    with open(dec, "rb") as fp:
        if fp.read() != b"".join(data for _, data in cases):
            failed += 1
            print("FAIL: decoding does not give the texts back")
    print(f"{len(cases) - failed} of {len(cases)} texts identical to tiktoken {tiktoken.__version__} "
          f"({total} tokens)")
    failed += hf_files(tool, rank_file, scratch, cases, enc)
    return 1 if failed else 0


def strata_tokens(tool, tokenizer, path, scratch):
    out = os.path.join(scratch, "hf.bin")
    subprocess.run([tool, "encode", "--tokenizer", tokenizer, "--no-eot", "--out", out, path],
                   check=True, stdout=subprocess.DEVNULL)
    return read_tokens(out)


def hf_files(tool, rank_file, scratch, cases, enc):
    """GPT-2's vocabulary written by Strata as Hugging Face files (the merge list derived from the
    ranks) encodes as tiktoken in Strata, and, with Hugging Face's `tokenizers` when installed,
    its tokenizer.json encodes as Strata does; so does a vocabulary Strata trains."""
    hf = os.path.join(scratch, "gpt2-hf")
    subprocess.run([tool, "convert", "--tokenizer", rank_file, "--hf", hf], check=True,
                   stdout=subprocess.DEVNULL)
    corpus = os.path.join(scratch, "corpus.txt")
    with open(corpus, "wb") as fp:
        fp.write(b"".join(data for _, data in cases))
    with open(corpus, "rb") as fp:
        text = fp.read().decode("utf-8")
    failed = 0
    got = strata_tokens(tool, hf, corpus, scratch)
    if got != enc.encode_ordinary(text):
        print("FAIL: GPT-2 as vocab.json + merges.txt does not encode as tiktoken")
        failed += 1
    try:
        from tokenizers import Tokenizer
    except ImportError as e:
        print(f"SKIP (part): Hugging Face tokenizers is not installed ({e}): tokenizer.json unchecked")
        return failed
    trained = os.path.join(scratch, "trained-hf")
    subprocess.run([tool, "train", "--vocab-size", "3000", "--hf", trained, corpus], check=True,
                   stdout=subprocess.DEVNULL)
    for name, d in (("GPT-2", hf), ("a trained vocabulary", trained)):
        hf_tok = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))
        hf_tok.encode_special_tokens = True  # "<|endoftext|>" in the text is text, as in encode_ordinary
        ids = hf_tok.encode(text).ids
        mine = strata_tokens(tool, d, corpus, scratch)
        if ids != mine:
            failed += 1
            print(f"FAIL: tokenizers reads Strata's tokenizer.json of {name} differently: "
                  f"{len(ids)} tokens against Strata's {len(mine)}")
        else:
            print(f"tokenizers encodes {name} from Strata's tokenizer.json as Strata does "
                  f"({len(ids)} tokens)")
    return failed


if __name__ == "__main__":
    sys.exit(main())
