#!/usr/bin/env python3
"""Reference token ids for the tokenizer tests (tests/data/tokenizer/*.json).

Made with (transformers 5.24.0, tokenizers 0.23.3), after scripts/setup.sh:
  python3 scripts/ref_tokenizer.py \
      --smollm2 "$FS_MODEL_SMOLLM2" \
      --llama2 "$FS_SHARED_DATA/llama2-spm-vocab-only.gguf" \
      --gemma3 "$FS_MODEL_GEMMA3" \
      --llama3 "$FS_TOKENIZER_LLAMA3" --qwen3 "$FS_TOKENIZER_QWEN3" \
      --out tests/data/tokenizer

Families: smollm2 (GGUF, byte-level BPE), llama2_spm (GGUF, SentencePiece), gemma3 (GGUF,
SentencePiece without a dummy prefix, 262k vocabulary), llama3 and qwen3 (the models' own
tokenizer.json files, read by `tokenizers.Tokenizer.from_file`: Split regex + ByteLevel, Qwen
with NFC), and llama3_ignore_merges (the same file with model.ignore_merges = true, as Llama
3.1's tokenizer.json has it). For gemma3 the transformers GGUF conversion is taken as it is (its pipeline is
Gemma's tokenizer.json one: Replace(" ", "▁"), BPE with byte fallback, no prefix space).

For each GGUF, Hugging Face transformers builds a fast tokenizer from the file itself
(AutoTokenizer.from_pretrained(dir, gguf_file=name)): vocabulary, merges and added tokens all
come from the GGUF. Two places where that GGUF-to-tokenizer conversion is known to differ from
the model's own tokenizer (its tokenizer.json, and llama.cpp's reading of the same GGUF) are
corrected before encoding, and every string on which the correction matters is listed under
"hf_gguf_ids" so the difference stays visible:
  * gpt2 / pre "smollm": the conversion keeps only the ByteLevel (GPT-2 regex) pre-tokenizer;
    SmolLM2's tokenizer.json (and llama.cpp's "smollm") first split every number code point
    on its own: Sequence[Digits(individual_digits=True), ByteLevel(add_prefix_space=False)].
  * llama / SentencePiece: the conversion uses Metaspace(prepend_scheme="first"), which adds
    no "▁" when the text already starts with a space and none after a special token. The
    model's tokenizer.json (legacy Llama-2 layout) and llama.cpp prepend "▁" to every text
    segment (start of text and after each special token): normalizer
    Sequence[Prepend("▁"), Replace(" ", "▁")], no pre-tokenizer, added tokens matched on the
    raw text.

Also writes pretokenizer.json: for each regex pre-tokenizer of src/tokenizer/pretokenizer.cpp
("gpt2", "smollm", "llama3", "qwen2"), the byte lengths of the pieces Hugging Face's
pre-tokenizers (Split(Regex, "isolated"), Digits) cut each corpus string into; it checks our
PCRE2 patterns against HF's regex engine. Patterns: the GPT-2 one is ByteLevel's; the Llama 3
and Qwen2 ones are those of their tokenizer.json files.

Output per model: {"model", "gguf", "add_bos", "bos_id", "convention", "hf_gguf_mismatches",
"cases": [{"text", "ids", "ids_plain"?, "hf_gguf_ids"?}]}.
  ids        : encode(text, add_special=False, parse_special=True)
  ids_plain  : encode(text, add_special=False, parse_special=False); only where != ids
  hf_gguf_ids: the uncorrected conversion's ids; only where != ids
With add_special=True the model adds [bos_id] in front when add_bos is true (checked here
against transformers' own add_special_tokens=True).
The corpus is deterministic (no randomness): the same command gives the same files.

--check-written DIR: Hugging Face `tokenizers` reads the tokenizer.json files that
WriteHfTokenizer made from the GGUFs (DIR/smollm2/, DIR/llama2_spm/, DIR/gemma3/) and must give
the reference ids (last run: 0 of 480 differ for each of the three).
"""
import argparse
import json
import os
import sys

from tokenizers import Regex, Tokenizer, normalizers, pre_tokenizers
from transformers import AutoTokenizer


def corpus():
    c = []
    add = c.append
    # Plain English.
    for s in [
        "Hello world", "Hello, world!", "The quick brown fox jumps over the lazy dog.",
        "I can't believe it's not butter.", "What's up? Nothing much.", "a", "A", "I",
        "This is a test.", "tokenization is fun", "UPPER CASE TEXT", "MiXeD CaSe WoRdS",
        "Once upon a time, in a land far, far away, there lived a king.",
        "e.g. i.e. etc. vs. Mr. Mrs. Dr.", "well-known state-of-the-art results",
        "hello", "Hello", "HELLO", "hello hello hello hello",
        "antidisestablishmentarianism", "pneumonoultramicroscopicsilicovolcanoconiosis",
        "The year 2024 was a leap year.", "It costs $19.99 (plus tax).",
        "Email me at someone@example.com today.", "#hashtag @mention",
    ]:
        add(s)
    # Whitespace runs, tabs, newlines, leading/trailing spaces.
    for n in range(1, 9):
        add(" " * n)
        add("a" + " " * n + "b")
    for s in [
        "\t", "\n", "\r\n", "\n\n", "\n\n\n", "\t\t", " \t \n ", "  leading", "trailing  ",
        " both ", "   three leading", "tab\tseparated\tvalues", "line1\nline2\nline3",
        "windows\r\nline endings\r\n", "para one\n\npara two", "  \n  indented\n    more",
        "\tindented with tab", "end with newline\n", "\nstart with newline",
        "multiple   spaces   between   words", "space before punctuation !", " ?", "x \n y",
        "a\u00a0b (nbsp)", "ideographic\u3000space", "line\u2028separator", "nel\u0085char",
        "zero\u200bwidth", "\ufeffbom at start", "vertical\x0btab", "form\x0cfeed",
    ]:
        add(s)
    # Digits and numbers.
    for n in range(1, 21):
        add("".join(str((i * 7 + 3) % 10) for i in range(n)))
    for s in [
        "3.14159", "-42", "1,000,000", "1e-9", "0x1F", "2024-01-15", "12:30:45", "+1 (555) 123-4567",
        "v1.2.3", "100%", "1/2", "abc123def456", "123abc", " 1", " 12", "x²", "²²", " ²", "½ ¾",
        "٣٤٥ (arabic-indic digits)", "١٢٣", "१२३", "Ⅻ roman numeral", "3rd 21st 42nd",
    ]:
        add(s)
    # Punctuation.
    for s in [
        "...", "!!!", "???", "?!", "--", "---", "—", "–", "…", "«quoted»", "\"double\"", "'single'",
        "“curly”", "‘curly’", "(parens) [brackets] {braces}", "a,b;c:d", "~`!@#$%^&*()_+-=",
        "<>", "<<>>", "|\\|", "/* comment */", "// comment", "-> => <= >= != ==", "::", ";;",
        "¡Hola! ¿Qué tal?", "x.y.z", "end.", ".start",
    ]:
        add(s)
    # Contractions.
    for s in [
        "it's", "you're", "we've", "they'll", "I'd", "I'm", "don't", "IT'S", "YOU'RE", "We'Ve",
        "the cat's toy", "'s", "'re", "'ve", "'ll", "'d", "'m", "'t", "''", "' s",
        "it’s (curly)", "rock 'n' roll", "'twas", "o'clock", "y'all'd've",
    ]:
        add(s)
    # Code.
    for s in [
        "def f(x):\n    return x * 2\n",
        "for i in range(10):\n\tprint(i)",
        "class Foo:\n    def __init__(self):\n        self.x = 1",
        "import numpy as np\narr = np.zeros((3, 4), dtype=np.float32)",
        "if (a && b || !c) { return -1; }",
        "#include <vector>\nint main() { std::vector<int> v{1, 2, 3}; return v.size(); }",
        "template <typename T> T max(T a, T b) { return a > b ? a : b; }",
        "auto it = std::find_if(v.begin(), v.end(), [](int x) { return x % 2 == 0; });",
        '{"name": "flashstream", "version": 1, "tags": ["llm", "ssd"], "ok": true}',
        '{\n  "a": [1, 2, 3],\n  "b": {"c": null}\n}',
        "SELECT * FROM users WHERE id = 42;",
        "<html><body><p class=\"x\">Hi</p></body></html>",
        "echo $HOME && ls -la | grep '.txt' > out.log 2>&1",
        "x = [i**2 for i in range(100) if i % 3 == 0]",
        "const f = async (a, b) => { await g(a); };",
        "fn main() { println!(\"{}\", 1 + 2); }",
        "    indented code line",
        "\t\tdouble tab code",
        "a_b_c snake_case camelCase PascalCase kebab-case SCREAMING_CASE",
        "__dunder__", "0b1010 0o17 0xdeadbeef", "x+=1;y-=2;z*=3",
        "regex: ^[a-z]+\\d{2,}$", "path/to/file.cpp:123:45: error: expected ';'",
        "```python\nprint('hi')\n```",
    ]:
        add(s)
    # URLs, paths, addresses.
    for s in [
        "https://www.example.com/path/to/page?query=1&b=two#frag",
        "http://localhost:8080/", "ftp://files.example.org/pub/file.tar.gz",
        "https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct",
        "/usr/local/bin/python3", "C:\\Users\\name\\Documents\\file.txt", "~/.config/app.toml",
        "user.name+tag@sub.domain.co.uk", "192.168.0.1:443", "[2001:db8::1]:80",
        "mailto:someone@example.com", "www.example.com",
    ]:
        add(s)
    # CJK.
    for s in [
        "你好，世界！", "我爱自然语言处理。", "日本語のテキストです。", "こんにちは", "カタカナ",
        "한국어 텍스트", "안녕하세요 세계", "中文 and English mixed", "東京2024年",
        "漢字かな交じり文", "𠀀𠀁 (CJK extension B)", "全角ＡＢＣ１２３", "「引用」『二重』",
        "中文标点：，。！？", "ㄅㄆㄇ bopomofo",
    ]:
        add(s)
    # Other scripts.
    for s in [
        "مرحبا بالعالم", "اللغة العربية جميلة", "שלום עולם", "नमस्ते दुनिया", "हिन्दी भाषा",
        "Привет, мир!", "Съешь же ещё этих мягких французских булок", "Γειά σου Κόσμε",
        "สวัสดีชาวโลก", "ქართული", "Հայերեն", "বাংলা ভাষা", "தமிழ்", "ಕನ್ನಡ",
        "Tiếng Việt có dấu", "Ελληνικά και English", "русский text mixed", "ﷺ ligature",
        "ǅ titlecase digraph", "ß straße STRASSE", "İstanbul ı i", "Ωmega ohm Ω",
    ]:
        add(s)
    # Emoji.
    for s in [
        "😀", "😀😃😄", "I ❤️ you", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇺🇸🇯🇵🇩🇪", "🇫🇷", "1️⃣ keycap",
        "🧑🏻‍💻 coding", "❤", "✅ done", "🔥🔥🔥", "emoji😀inside", " 😀 ", "🤷‍♀️", "👩🏾‍🦱",
        "©®™", "☃ snowman", "🫠",
    ]:
        add(s)
    # Combining marks and normalization forms.
    for s in [
        "e\u0301", "cafe\u0301", "café", "na\u0308ive", "naïve", "A\u030a", "Å", "n\u0303",
        "Z\u0351\u0352\u0353a\u0354\u0355lgo", "\u0301 leading combining mark", "ﬁ ligature",
        "ｈａｌｆ", "x\u20dd", "a\u0300\u0301\u0302\u0303",
    ]:
        add(s)
    # Special tokens embedded in text (SmolLM2 ChatML and Llama-2 <s> </s> <unk>).
    for s in [
        "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|im_start|>user\nHello!<|im_end|>\n",
        "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>assistant\n",
        "text<|im_end|>more", "text <|im_end|> more", "<|im_start|><|im_end|>",
        "<|im_start|>  spaced", "<|im_start", "im_start|>", "<|im_start |>", "<|IM_START|>",
        "<|im_start|><|im_start|><|im_start|>", "<repo_name>flashstream<file_sep>",
        "<s>", "</s>", "<unk>", "<s>Hello</s>", "a<s>b", "a <s> b", "<s> leading space",
        "</s></s>", "<s><s>", "x</s>", "<s", "s>", "<<s>>", "< s >", "<unk> unknown",
        "[INST] Hi [/INST]", "<|eot_id|>", "<start_of_turn>user",
        # Gemma 3, Llama 3 and Qwen3 chat tokens, Gemma's user-defined whitespace/HTML tokens.
        "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n", "<bos>", "<eos>",
        "<pad>", "<mask>", "<table><tr><td>cell</td></tr></table>", "<h1>Title</h1>",
        "a  b  c", "a   b", "\t\tx", "x\t\t\ty", "<|begin_of_text|>",
        "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>",
        "<think>\nreasoning\n</think>\n\nanswer", "<|im_start|>assistant\n<think>\n\n</think>",
    ]:
        add(s)
    # Empty, single characters, control bytes.
    add("")
    for ch in " !\"#$%&'()*+,-./0:;<=>?@Z[\\]^_`az{|}~":
        add(ch)
    for s in ["\x00", "\x01\x02\x03", "a\x00b", "\x7f", "\x1b[31mred\x1b[0m", "\u200d", "\ufffd",
              "\U0010ffff", "\ue000 private use"]:
        add(s)
    # Longer mixed text.
    para = ("Large language models stream weights from SSD while the current layer computes. "
            "In 2023, Apple's \"LLM in a Flash\" showed 4-5x speedups on CPU and 20-25x on GPU!\n")
    add(para)
    add(para * 8)
    add(" ".join(["word"] * 200))
    add("x" * 300)
    add("ab" * 150)
    add("  ".join(str(i) for i in range(100)))
    add("\n".join(f"line {i}: value={i * i}" for i in range(40)))
    add("数学 math 数学 math " * 20)
    add("😀 " * 50)
    # Systematic combinations: prefix x word x suffix.
    words = ["hello", "Hello", "123", "élan", "日本", "😀", "'s", "<|im_end|>", "</s>"]
    for pre in ["", " ", "  ", "\n"]:
        for w in words:
            for suf in ["", " ", "\n"]:
                add(pre + w + suf)
    # Deduplicate, keeping first occurrence order.
    seen = set()
    out = []
    for s in c:
        if s not in seen:
            seen.add(s)
            out.append(s)
    return out


GPT2_PATTERN = (r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+")
LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
                  r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|"
                 r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")


def hf_pre_tokenizers():
    split = lambda pattern: pre_tokenizers.Split(Regex(pattern), behavior="isolated")
    return {
        "gpt2": split(GPT2_PATTERN),
        "smollm": pre_tokenizers.Sequence(
            [pre_tokenizers.Digits(individual_digits=True), split(GPT2_PATTERN)]),
        "llama3": split(LLAMA3_PATTERN),
        "qwen2": split(QWEN2_PATTERN),
    }


def piece_byte_lengths(pre, text):
    """Byte lengths of the pieces (HF offsets count code points)."""
    lengths = []
    for _, (start, end) in pre.pre_tokenize_str(text):
        lengths.append(len(text[start:end].encode("utf-8")))
    if sum(lengths) != len(text.encode("utf-8")):
        sys.exit(f"pre-tokenizer pieces do not cover {text!r}")
    return lengths


def build_pretokenizer(texts):
    splits = {name: [piece_byte_lengths(pre, t) for t in texts]
              for name, pre in hf_pre_tokenizers().items()}
    lines = ['{', ' "texts": [']
    lines.append(",\n".join(json.dumps(t, ensure_ascii=False) for t in texts))
    lines.append(' ],')
    lines.append(' "splits": {')
    lines.append(",\n".join(
        f'  {json.dumps(name)}: [' + ",".join(json.dumps(s) for s in lens) + ']'
        for name, lens in splits.items()))
    lines.append(' }')
    lines.append('}')
    return "\n".join(lines) + "\n"


def true_pipeline(backend: Tokenizer, kind: str) -> Tokenizer:
    """Returns a copy of the GGUF-built tokenizer with the model's own pre-tokenization."""
    tok = Tokenizer.from_str(backend.to_str())
    if kind == "gemma":  # the conversion already is Gemma's tokenizer.json pipeline
        return tok
    if kind == "bpe":
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ])
    else:
        tok.normalizer = normalizers.Sequence(
            [normalizers.Prepend("\u2581"), normalizers.Replace(" ", "\u2581")])
        j = json.loads(tok.to_str())
        j["pre_tokenizer"] = None
        for t in j["added_tokens"]:
            t["normalized"] = False
        tok = Tokenizer.from_str(json.dumps(j))
    return tok


def encode(tok: Tokenizer, text: str, parse_special: bool):
    tok.encode_special_tokens = not parse_special
    return tok.encode(text, add_special_tokens=False).ids


def build(name: str, gguf_path: str, kind: str, texts):
    d, f = os.path.split(os.path.abspath(gguf_path))
    hf = AutoTokenizer.from_pretrained(d, gguf_file=f)
    gguf_tok = Tokenizer.from_str(hf.backend_tokenizer.to_str())
    ref = true_pipeline(gguf_tok, kind)
    add_bos = bool(getattr(hf, "add_bos_token", False))
    bos_id = hf.bos_token_id if hf.bos_token_id is not None else -1
    cases = []
    mismatches = 0
    for text in texts:
        ids = encode(ref, text, True)
        case = {"text": text, "ids": ids}
        plain = encode(ref, text, False)
        if plain != ids:
            case["ids_plain"] = plain
        hf_ids = encode(gguf_tok, text, True)
        if hf_ids != ids:
            case["hf_gguf_ids"] = hf_ids
            mismatches += 1
        cases.append(case)
        # The add_special convention: transformers' own call adds exactly [bos] when add_bos.
        with_special = hf(text, add_special_tokens=True)["input_ids"]
        expect = ([bos_id] if add_bos else []) + hf_ids
        if with_special != expect:
            sys.exit(f"{name}: add_special_tokens=True gave {with_special}, expected {expect}")
    return {
        "model": name,
        "gguf": os.path.basename(gguf_path),
        "add_bos": add_bos,
        "bos_id": bos_id,
        "convention": "ids: add_special=False, parse_special=True; ids_plain: parse_special=False "
                      "(only where different); hf_gguf_ids: uncorrected HF GGUF conversion "
                      "(only where different)",
        "hf_gguf_mismatches": mismatches,
        "cases": cases,
    }


def build_from_json(name: str, folder: str, texts, ignore_merges=None):
    """Reference ids of a model's own tokenizer.json, read by Hugging Face `tokenizers`
    (with model.ignore_merges forced to `ignore_merges` unless None)."""
    with open(os.path.join(folder, "tokenizer.json"), encoding="utf-8") as fh:
        j = json.load(fh)
    if ignore_merges is not None:
        j["model"]["ignore_merges"] = ignore_merges
    tok = Tokenizer.from_str(json.dumps(j))
    cases = []
    bos_ids = set()
    for text in texts:
        ids = encode(tok, text, True)
        case = {"text": text, "ids": ids}
        plain = encode(tok, text, False)
        if plain != ids:
            case["ids_plain"] = plain
        cases.append(case)
        tok.encode_special_tokens = False
        with_special = tok.encode(text, add_special_tokens=True).ids
        if with_special[len(with_special) - len(ids):] != ids or len(with_special) - len(ids) > 1:
            sys.exit(f"{name}: add_special_tokens=True gave {with_special} for ids {ids}")
        bos_ids.add(tuple(with_special[:len(with_special) - len(ids)]))
    if len(bos_ids) != 1:
        sys.exit(f"{name}: add_special_tokens=True adds different prefixes: {bos_ids}")
    prefix = bos_ids.pop()
    return {
        "model": name,
        "tokenizer_json": os.path.basename(os.path.normpath(folder)) + "/tokenizer.json",
        "add_bos": bool(prefix),
        "bos_id": prefix[0] if prefix else -1,
        "convention": "ids: add_special=False, parse_special=True; ids_plain: parse_special=False "
                      "(only where different)",
        "cases": cases,
    }


def dumps_one_case_per_line(data) -> str:
    """JSON with one case per line, so that diffs of the data stay readable."""
    head = {k: v for k, v in data.items() if k != "cases"}
    lines = [json.dumps(c, ensure_ascii=False, separators=(",", ":")) for c in data["cases"]]
    text = json.dumps(head, ensure_ascii=False, indent=1)[:-2]
    return text + ',\n "cases": [\n' + ",\n".join(lines) + "\n ]\n}\n"


def check_written(root: str):
    """Loads each <root>/<name>/tokenizer.json written by WriteHfTokenizer (flashstream's
    `convert --to hf`) with Hugging Face `tokenizers` and compares its ids with the committed
    reference ids of <name> (e.g. smollm2, llama2_spm, gemma3). Exits non-zero on a mismatch."""
    failed = False
    for name in sorted(os.listdir(root)):
        path = os.path.join(root, name, "tokenizer.json")
        ref_path = os.path.join("tests/data/tokenizer", f"{name}.json")
        if not os.path.exists(path) or not os.path.exists(ref_path):
            continue
        with open(ref_path, encoding="utf-8") as fh:
            ref = json.load(fh)
        tok = Tokenizer.from_file(path)
        bad = 0
        for c in ref["cases"]:
            bos = [ref["bos_id"]] if ref["add_bos"] else []
            plain = encode(tok, c["text"], False)
            if (encode(tok, c["text"], True) != c["ids"]  # leaves special-token parsing on
                    or plain != c.get("ids_plain", c["ids"])
                    or tok.encode(c["text"], add_special_tokens=True).ids != bos + c["ids"]):
                bad += 1
        print(f"{path}: {len(ref['cases'])} cases, {bad} differ from the reference ids")
        failed = failed or bad > 0
    sys.exit(1 if failed else 0)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--smollm2", default=os.environ.get("FS_MODEL_SMOLLM2"))
    p.add_argument("--llama2", default=os.path.join(
        os.environ.get("FS_SHARED_DATA", ""), "llama2-spm-vocab-only.gguf"))
    p.add_argument("--gemma3", default=os.environ.get("FS_MODEL_GEMMA3"))
    p.add_argument("--llama3", default=os.environ.get("FS_TOKENIZER_LLAMA3"),
                   help="folder with Llama 3.2's tokenizer.json (scripts/setup.sh)")
    p.add_argument("--qwen3", default=os.environ.get("FS_TOKENIZER_QWEN3"),
                   help="folder with Qwen3's tokenizer.json (scripts/setup.sh)")
    p.add_argument("--only", default="", help="comma-separated subset of the outputs")
    p.add_argument("--out", default="tests/data/tokenizer")
    p.add_argument("--check-written", metavar="DIR",
                   help="check folders DIR/<name>/ written by WriteHfTokenizer instead")
    args = p.parse_args()
    if args.check_written:
        check_written(args.check_written)
    texts = corpus()
    os.makedirs(args.out, exist_ok=True)
    only = set(args.only.split(",")) if args.only else None
    for name, path, kind in [("smollm2", args.smollm2, "bpe"), ("llama2_spm", args.llama2, "spm"),
                             ("gemma3", args.gemma3, "gemma"), ("llama3", args.llama3, "json"),
                             ("qwen3", args.qwen3, "json"),
                             ("llama3_ignore_merges", args.llama3, "json_ignore_merges")]:
        if only is not None and name not in only:
            continue
        if not path or not os.path.exists(path):
            sys.exit(f"{name}: input not found at {path!r}")
        if kind == "json":
            data = build_from_json(name, path, texts)
        elif kind == "json_ignore_merges":  # Llama 3.1+ sets it; the Llama 3.2 file we have does not
            data = build_from_json(name, path, texts, ignore_merges=True)
        else:
            data = build(name, path, kind, texts)
        out = os.path.join(args.out, f"{name}.json")
        with open(out, "w", encoding="utf-8") as fh:
            fh.write(dumps_one_case_per_line(data))
        print(f"{out}: {len(texts)} cases, {data.get('hf_gguf_mismatches', 0)} differ from the "
              f"uncorrected HF GGUF conversion, {os.path.getsize(out)} bytes")
    if only is not None and "pretokenizer" not in only:
        return
    out = os.path.join(args.out, "pretokenizer.json")
    with open(out, "w", encoding="utf-8") as fh:
        fh.write(build_pretokenizer(texts))
    print(f"{out}: {len(texts)} texts, {os.path.getsize(out)} bytes")


if __name__ == "__main__":
    main()
