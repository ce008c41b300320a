"""Tokenizer golden corpus: corpus() -> list of bytes (may be invalid UTF-8).

Hand-written strings first, then systematic combinations. Keep it
deterministic: the goldens are regenerated from it.
"""

PROSE = [
    "Hello world! 123",
    "a   b",
    "Hello",
    " Hello",
    "  Hello",
    "hello world",
    "The quick brown fox jumps over the lazy dog.",
    "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG!",
    "It was the best of times, it was the worst of times, it was the age of wisdom, "
    "it was the age of foolishness...",
    "In 1492, Columbus sailed the ocean blue.",
    "Dr. Smith's patients weren't happy; they'd waited 3.5 hours!",
    "Mr. and Mrs. Dursley, of number four, Privet Drive, were proud to say that they "
    "were perfectly normal, thank you very much.",
    "Call me Ishmael. Some years ago - never mind how long precisely - having little "
    "or no money in my purse,",
    "To be, or not to be, that is the question:",
    "A sentence with a trailing space ",
    "Two trailing spaces  ",
    " leading space",
    "\tleading tab",
    "trailing tab\t",
    "tab\tseparated\tvalues\t1\t2\t3",
    "line one\nline two\nline three",
    "paragraph one.\n\nparagraph two.",
    "three newlines\n\n\nthen text",
    "windows\r\nline\r\nendings\r\n",
    "mixed \t \n whitespace \n\t run",
    "end with newline\n",
    "end with newlines\n\n",
    "    indented four",
    "SmolLM is a small language model.",
    "What is the capital of France? The capital of France is Paris.",
    "e-mail: someone@example.com, web: https://example.com/path?q=1&r=2#frag",
    "C:\\Users\\name\\Documents\\file.txt",
    "/usr/local/bin/python3 --version",
    "#hashtag @mention $100 50% 3+4=7 a^b ~tilde |pipe| `backtick`",
    "(parentheses) [brackets] {braces} <angle>",
    "\"double quotes\" and 'single quotes'",
    "ellipsis... dashes -- em—dash en–dash",
    "!!!???...,,,;;;:::",
    "!@#$%^&*()_+-=[]{}|;':\",./<>?",
    "a.b.c.d",
    "x=1;y=2;z=x+y",
]

CONTRACTIONS = [
    "it's", "It's", "IT'S", "don't", "DON'T", "we're", "WE'RE", "you've", "I'm",
    "I'M", "we'll", "WE'LL", "he'd", "HE'D", "'s", "'t", "'re", "'ve", "'m", "'ll", "'d",
    "'S", "'T", "'RE", "'Ve", "'Ll", "rock'n'roll", "the dog's bone", "dogs' bones",
    "'quoted'", "''", "'''", "' s", "o'clock", "can't won't shouldn't", "y'all'd've",
    "James's", "'sup", "'tis", "'twas", "it's'll",
]

NUMBERS = [
    "0", "1", "12", "123", "1234", "12345", "123456", "1234567", "12345678901234567890",
    "3.14", "3.14159265358979", "-42", "+7", "1,000", "1,000,000", "1.000.000,00",
    "1e10", "6.02e23", "0x1F", "0b1010", "2024-01-15", "12:30:45", "v1.2.3", "100%",
    "$3.50", "€20", "£5", "¥1000", "1st 2nd 3rd 4th", "(555) 123-4567", "192.168.0.1",
    "a1b2c3", "abc123def456", " 1", "  12", "x 1 2 3 y", "١٢٣", "٣٫١٤", "१२३४",
    "一二三", "①②③", "½ ¼ ¾", "Ⅻ", "²³", "𝟙𝟚𝟛", "৩", "໑໒", "٠", "௰",
]

CODE = [
    "def foo(x):\n    return x + 1\n",
    "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n",
    "class Foo:\n    def __init__(self):\n        self.x = 0  # comment\n",
    "import numpy as np\nx = np.array([1, 2, 3])\nprint(x.sum())",
    "for i in range(10):\n\tprint(i)\n",
    "if __name__ == \"__main__\":\n    main()",
    "#include <iostream>\n\nint main() {\n  std::cout << \"Hello\\n\";\n  return 0;\n}\n",
    "template <typename T>\nT max(T a, T b) { return a > b ? a : b; }",
    "std::vector<int> v{1, 2, 3};\nfor (auto& x : v) x *= 2;",
    "int* p = nullptr; p->x; a && b || !c; x <<= 2; y >>= 3; z != w;",
    "{\n  \"name\": \"test\",\n  \"values\": [1, 2, 3],\n  \"nested\": {\"a\": null}\n}",
    "{\"key\":\"value\",\"n\":1.5e-3,\"b\":true}",
    "SELECT * FROM users WHERE id = 42 AND name LIKE '%bob%';",
    "<html>\n  <body>\n    <p class=\"x\">Hi</p>\n  </body>\n</html>",
    "fn main() {\n    let v: Vec<u32> = (0..10).collect();\n    println!(\"{:?}\", v);\n}",
    "const f = (a, b) => a ?? b;\nconsole.log(`template ${f(1, 2)}`);",
    "#!/bin/bash\nset -euo pipefail\necho \"$HOME\" | grep -v '^#'\n",
    "    \n    \n",
    "        deeply_indented = True\n",
    "x\t=\t1\n\t\ty\t=\t2",
    "a = [\n    1,\n    2,\n]\n",
    "// comment\n/* block\n   comment */\n",
    "key: value\nlist:\n  - item1\n  - item2\n",
    "diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1,3 +1,3 @@\n-old\n+new\n",
    "| col1 | col2 |\n|------|------|\n| a    | b    |",
    "# Title\n\n## Subtitle\n\n* bullet\n* list\n\n1. one\n2. two\n",
    "**bold** _italic_ `code` [link](http://x.y)",
    "$$\\frac{a}{b} = \\sum_{i=0}^{n} x_i^2$$",
]

UNICODE = [
    "café", "naïve", "résumé", "Ångström", "Straße", "ÀÉÎÕÜ", "ñandú", "Ελληνικά",
    "Привет, мир!", "Здравствуйте", "日本語のテキスト", "こんにちは世界", "カタカナ",
    "東京タワー", "中文文本测试", "你好，世界！", "繁體中文", "한국어 텍스트", "안녕하세요",
    "مرحبا بالعالم", "العربية", "שלום עולם", "עברית", "नमस्ते दुनिया", "हिन्दी",
    "สวัสดีชาวโลก", "ภาษาไทย", "Tiếng Việt", "Türkçe", "Polski: zażółć gęślą jaźń",
    "Ελληνικά 123 and English", "mixed日本語and English", "ՀայերԷն", "ქართული",
    "አማርኛ", "தமிழ்", "ಕನ್ನಡ", "বাংলা", "ગુજરાતી", "ꦗꦮ", "ᚠᚢᚦ", "𐌰𐌱𐌲",
    "e\u0301", "a\u0308o\u0308", "\u00a0non-breaking\u00a0space", "zero\u200bwidth",
    "soft\u00adhyphen", "\u3000ideographic space", "em\u2003space", "thin\u2009space",
    "line\u2028separator", "para\u2029separator", "next\u0085line", "\u200dzwj",
    "\ufeffBOM", "\u202eRTL override", "tab\u000bvertical", "form\u000cfeed",
    "control\u0001char\u001f", "del\u007fchar", "null\u0000byte", "\u00ad", "\u00a0",
    "fullwidth ＡＢＣ １２３", "ｶﾀｶﾅ", "ℌ𝔢𝔩𝔩𝔬", "𝓗𝓮𝓵𝓵𝓸", "Ⓐⓑⓒ", "™ © ®", "°C ±5 µm",
    "→ ← ↑ ↓ ⇒", "∀x∈ℝ: x²≥0", "∑∏∫√∞", "♠♣♥♦", "★☆✓✗", "⌘⌥⇧", "¿Qué? ¡Sí!",
    "«guillemets» „Anführung“ “curly” ‘single’", "…", "·•", "〈〉《》【】",
    "private\ue000use", "\U000f0000plane15", "\U00050000plane5", "x\U000a1234y", "unassigned\u0378", "surrogate-free 𝄞",
]

EMOJI = [
    "😀", "😀😃😄", "I love 🍕!", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇺🇸🇯🇵", "❤️", "☺️",
    "🧑‍💻 coding", "emoji at end 🎉", "🎉 emoji at start", "text🙂text", "🤷‍♂️", "1️⃣",
    "👩🏾‍🚀", "🐈‍⬛", "🫠🫡", "#️⃣", "😀 😃 😄",
]

SPECIAL = [
    "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|im_start|>user\nHi<|im_end|>",
    "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
    "Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
    "Face<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n"
    "2+2 equals 4.<|im_end|>\n<|im_start|>user\nThanks! And 10*10?<|im_end|>\n"
    "<|im_start|>assistant\n",
    "<|im_st", "<|im_start", "|im_start|>", "<|im_start|", "<|im_end|><|im_end|>",
    "<|im_start|><|im_start|>", "a<|endoftext|>b", " <|im_start|> ", "\n<|im_end|>\n",
    "<|IM_START|>", "< |im_start| >", "<<|im_start|>>", "<|im_start|>>", "<<|im_end|>",
    "<repo_name>x<file_sep>y<filename>z", "<reponame>", "<gh_stars>100",
    "<issue_start><issue_comment><issue_closed>", "<jupyter_start><jupyter_text>"
    "<jupyter_code><jupyter_output><jupyter_script><empty_output>",
    "<jupyter_code>print(1)<jupyter_output>1", "<|endoftext|><|endoftext|>",
    "<|endoftext|>\n\n", "text <|im_end|>", "<|im_start|>assistant\n<think>",
    "<s></s>", "<unk>", "<pad>", "<|im_start|>user\n<|im_start|>nested<|im_end|>",
]

INVALID = [
    b"\xff", b"\xfe\xff", b"\xff\xfeab", b"abc\x80def", b"\xc0\x80", b"\xc3", b"\xc3(",
    b"\xe2\x82", b"\xe2\x82(", b"\xf0\x9f\x98", b"\xf0\x9f\x98 end", b"\xed\xa0\x80",
    b"\xed\xbf\xbf", b"\xf8\x88\x80\x80\x80", b"\xfc\x84\x80\x80\x80\x80", b"\x80\x80\x80",
    b"caf\xe9", b"\xe9t\xe9", b"valid \xf0\x9f\x98\x80 then \xff invalid",
    b"\xc0\xaf", b"\xe0\x80\xaf", b"\xf0\x80\x80\xaf", b"<|im_start|>\xff<|im_end|>",
    b"\xf4\x8f\xbf\xbf", b"\xef\xbf\xbd", b"\xef\xbf\xbe", b"\x00\x01\x02",
]


def _generated():
    out = []
    words = ["the", "Hello", "world", "x", "ab", "日本", "😀", "123", "'s", "!"]
    seps = [" ", "  ", "   ", "\t", "\n", " \n", "\n ", "\n\n", " \t ", "\r\n", "    "]
    for w in words:
        for s in seps:
            out.append(w + s + w)
    for s in seps:
        out.append(s)
        out.append(s + "x")
        out.append("x" + s)
    for n in range(1, 9):
        out.append(" " * n + "word")
        out.append("word" + " " * n)
    for n in ["7", "42", "999", "2048", "65536"]:
        out.append("There are " + n + " apples")
        out.append("n=" + n)
    return out


def _long():
    para = ("Large language models are trained on vast corpora of text. They learn to "
            "predict the next token given the previous ones, and at inference time they "
            "generate text one token at a time. ")
    return [
        para * 20,
        "a" * 1000,
        " " * 500 + "x",
        "\n" * 200,
        "ab" * 700,
        "1234567890" * 100,
        "😀" * 200,
        "日本語" * 300,
        "".join(chr(c) for c in range(0x20, 0x7f)) * 5,
        "".join(chr(c) for c in range(0xa0, 0x250)),
        "".join(chr(c) for c in range(0x370, 0x400)),
        "word " * 400,
    ]


def corpus():
    texts = []
    for group in (PROSE, CONTRACTIONS, NUMBERS, CODE, UNICODE, EMOJI, SPECIAL, _generated(),
                  _long()):
        texts.extend(s.encode("utf-8") for s in group)
    texts.extend(INVALID)
    texts.append(b"")
    seen = set()
    uniq = []
    for t in texts:
        if t not in seen:
            seen.add(t)
            uniq.append(t)
    return uniq
