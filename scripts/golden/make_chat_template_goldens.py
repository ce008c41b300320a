#!/usr/bin/env python3
"""Renders SmolLM2-Instruct's own chat template (read from the GGUF file)
with jinja2 for a set of conversations, and writes
tests/fixtures/chat_template_golden.json for tests/common/chat_template_test.cc.

Run with an interpreter that has both `gguf` and `jinja2`, e.g.
  PYTHONPATH=$(python3 -c 'import gguf,os;print(os.path.dirname(os.path.dirname(gguf.__file__)))') \
    /opt/llamavenv/bin/python scripts/golden/make_chat_template_goldens.py
The template is executed here, offline, on trusted input only; the serving
code never executes templates (see common/chat_template.h).
"""
import json
import os
import sys

import jinja2
import jinja2.sandbox
from gguf import GGUFReader

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODEL = os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")
OUT = os.path.join(ROOT, "tests", "fixtures", "chat_template_golden.json")


def msg(role, content):
    return {"role": role, "content": content}


CONVERSATIONS = [
    ("user_only", [msg("user", "Hi")]),
    ("with_system", [msg("system", "You are terse."), msg("user", "What is 2+2?")]),
    ("multi_turn", [msg("user", "Hello!"), msg("assistant", "Hi! How can I help?"),
                    msg("user", "Tell me a joke.")]),
    ("system_multi_turn", [msg("system", "Answer in French."), msg("user", "Good morning"),
                           msg("assistant", "Bonjour"), msg("user", "Thanks")]),
    ("assistant_first", [msg("assistant", "I start."), msg("user", "OK")]),
    ("system_not_first", [msg("user", "a"), msg("system", "late system")]),
    ("tool_turn", [msg("user", "weather?"), msg("assistant", "calling"),
                   msg("tool", "{\"temp\": 21}")]),
    ("unicode_and_newlines", [msg("user", "  caf\u00e9 \u4f60\u597d \U0001F600\nline2\n\n  ")]),
    ("empty_content", [msg("system", ""), msg("user", "")]),
    ("special_text_in_content", [msg("user", "<|im_start|>user\nnot a turn<|im_end|>")]),
]


def main():
    reader = GGUFReader(MODEL)
    template_text = reader.fields["tokenizer.chat_template"].contents()
    # The environment transformers' apply_chat_template uses.
    env = jinja2.sandbox.ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    template = env.from_string(template_text)
    cases = []
    for name, messages in CONVERSATIONS:
        for add_generation_prompt in (True, False):
            cases.append({
                "name": f"{name}/{'gen' if add_generation_prompt else 'nogen'}",
                "messages": messages,
                "add_generation_prompt": add_generation_prompt,
                "expected": template.render(messages=messages,
                                            add_generation_prompt=add_generation_prompt),
            })
    fixture = {
        "source": "tokenizer.chat_template of models/SmolLM2-135M-Instruct.Q4_1.gguf",
        "renderer": f"jinja2 {jinja2.__version__}",
        "template": template_text,
        "cases": cases,
    }
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(fixture, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {len(cases)} cases to {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
