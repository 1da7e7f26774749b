#!/usr/bin/python3
"""Reference renders of real chat templates with Python jinja2, written as Keel's parity fixtures.

Each folder under src/test/fixtures/chat/ holds a real model's `template.jinja` and a one-line `SOURCE`
note. This script renders a fixed set of conversations through each template exactly as transformers'
`apply_chat_template(..., tokenize=False)` renders them, and writes `cases.jsonl` next to the template:
one JSON object per case with the inputs and either `expected` (the render) or `error` (the exception; a template
jinja2 cannot compile gives its TemplateSyntaxError for every case, as apply_chat_template would raise it).

The jinja2 environment follows transformers' `utils/chat_template_utils.py` (`_compile_jinja_template`
and `render_jinja_template`):
  - `ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
    extensions=[AssistantTracker, jinja2.ext.loopcontrols])`; the `{% generation %}` tag of
    AssistantTracker renders its body when no tracker is active, as here;
  - the filter `tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False)` = json.dumps;
  - the globals `raise_exception(message)` (raises jinja2's TemplateError) and `strftime_now(format)`;
  - `render(messages=..., tools=..., documents=..., add_generation_prompt=..., **template_kwargs)` where
    template_kwargs are the tokenizer's special tokens and the caller's extra keyword arguments; `tools` and
    `documents` are passed even when None.
`strftime_now` reads a fixed clock (2026-01-01 00:00:00) so that renders are reproducible; Keel's test uses
the same instant (`--now 2026-01-01`).

Run with Debian's /usr/bin/python3 (python3-jinja2 3.1.2); two runs write identical files.
"""
import json
import sys
from datetime import datetime
from pathlib import Path

import jinja2
import jinja2.ext
import jinja2.nodes
from jinja2.ext import Extension
from jinja2.sandbox import ImmutableSandboxedEnvironment

ROOT = Path(__file__).resolve().parents[2] / "src" / "test" / "fixtures" / "chat"
NOW = datetime(2026, 1, 1, 0, 0, 0)


class GenerationTag(Extension):
    """transformers' AssistantTracker without an active tracker: {% generation %} renders its body."""
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_generation_support"), [], [], body).set_lineno(lineno)

    @jinja2.pass_eval_context
    def _generation_support(self, context, caller):
        return caller()


def compile_template(source):
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(format):
        return NOW.strftime(format)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                       extensions=[GenerationTag, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env.from_string(source)


# Special tokens per template (what each model's tokenizer_config.json sets); the default fits ChatML models.
TOKENS = {
    "CohereForAI-c4ai-command-r7b-12-2024-tool_use": {"bos_token": "<BOS_TOKEN>", "eos_token": "<|END_OF_TURN_TOKEN|>"},
    "HuggingFaceH4-zephyr-7b-beta": {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"},
    "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B": {"bos_token": "<｜begin▁of▁sentence｜>", "eos_token": "<｜end▁of▁sentence｜>"},
    "deepseek-ai-DeepSeek-V3.1": {"bos_token": "<｜begin▁of▁sentence｜>", "eos_token": "<｜end▁of▁sentence｜>"},
    "google-gemma-2-2b-it": {"bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>"},
    "llama-cpp-lfm2": {"bos_token": "<|startoftext|>", "eos_token": "<|im_end|>"},
    "llama-cpp-microsoft-Phi-4-mini-instruct": {"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>"},
    "meta-llama-Llama-3.2-1B-Instruct": {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"},
    "microsoft-Phi-3.5-mini-instruct": {"bos_token": "<s>", "eos_token": "<|endoftext|>", "unk_token": "<unk>"},
    "mistralai-Mistral-Small-3.1-24B-Instruct-2503": {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"},
    "nvidia-Llama-3_3-Nemotron-Super-49B-v1_5": {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"},
}
LLAMA3 = {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"}
LLAMA2 = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}
TOKENS.update({
    "chujiezheng-granite-3.0-instruct": {"bos_token": "<|end_of_text|>", "eos_token": "<|end_of_text|>"},
    "chujiezheng-llama-2-chat": LLAMA2,
    "chujiezheng-mistral-instruct": LLAMA2,
    "chujiezheng-phi-3": {"bos_token": "<s>", "eos_token": "<|endoftext|>", "unk_token": "<unk>"},
    "moonshotai-Kimi-K2": {"bos_token": "[BOS]", "eos_token": "[EOS]", "unk_token": "[UNK]"},
    "NVIDIA-Nemotron-Nano-v2": {"bos_token": "<SPECIAL_10>", "eos_token": "<SPECIAL_12>"},
    "vllm-template_chatml": {"eos_token": "<|im_end|>"},
    "vllm-tool_chat_template_granite": {"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>"},
    "vllm-tool_chat_template_hermes": {"bos_token": "<|begin_of_text|>", "eos_token": "<|im_end|>"},
    "vllm-tool_chat_template_llama3.1_json": LLAMA3,
    "vllm-tool_chat_template_llama3.2_pythonic": LLAMA3,
    "vllm-tool_chat_template_llama4_json": {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot|>"},
    "vllm-tool_chat_template_deepseekv3": {"bos_token": "<｜begin▁of▁sentence｜>", "eos_token": "<｜end▁of▁sentence｜>"},
    "vllm-tool_chat_template_internlm2_tool": {"bos_token": "<s>", "eos_token": "</s>"},
    "vllm-tool_chat_template_gemma3_pythonic": {"bos_token": "<bos>", "eos_token": "<eos>"},
    "vllm-tool_chat_template_toolace": LLAMA3,
    "vllm-tool_chat_template_olmo3": {"bos_token": "<|endoftext|>", "eos_token": "<|im_end|>"},
    "vllm-tool_chat_template_minicpm3": {"bos_token": "<s>", "eos_token": "<|im_end|>"},
    "chujiezheng-gemma-it": {"bos_token": "<bos>", "eos_token": "<eos>"},
    "chujiezheng-openchat": {"bos_token": "<s>", "eos_token": "<|end_of_turn|>"},
    "chujiezheng-vicuna": LLAMA2,
    "chujiezheng-llama-3-chat": LLAMA3,
    "vllm-tool_chat_template_xlam_llama": LLAMA3,
    "vllm-tool_chat_template_mistral3": LLAMA2,
    "LFM2.5-8B-A1B": {"bos_token": "<|startoftext|>", "eos_token": "<|im_end|>"},
    "moonshotai-Kimi-K2-Thinking": {"bos_token": "[BOS]", "eos_token": "[EOS]"},
    "unsloth-Apriel-1.5": {"bos_token": "<s>", "eos_token": "</s>"},
    "glm_4_5": {"eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>"},
    "vllm-tool_chat_template_deepseekr1": {"bos_token": "<｜begin▁of▁sentence｜>", "eos_token": "<｜end▁of▁sentence｜>"},
    "vllm-tool_chat_template_xlam_qwen": {"eos_token": "<|im_end|>"},
    "chujiezheng-falcon": {"eos_token": "<|endoftext|>"},
    "chujiezheng-alpaca": LLAMA2,
    "chujiezheng-saiga": {"bos_token": "<s>", "eos_token": "</s>"},
    "vllm-tool_chat_template_mistral_parallel": LLAMA2,
    "vllm-tool_chat_template_llama3.2_json": LLAMA3,
    "chujiezheng-orca": {"bos_token": "<s>", "eos_token": "<|im_end|>"},
    "chujiezheng-solar-instruct": LLAMA2,
    "chujiezheng-amberchat": LLAMA2,
    "chujiezheng-mistral": LLAMA2,
    "chujiezheng-llama": LLAMA2,
    "vllm-tool_chat_template_hermes_2_pro": {"bos_token": "<|begin_of_text|>", "eos_token": "<|im_end|>"},
    "chujiezheng-chatqa": LLAMA3,
    "vllm-tool_chat_template_deepseekv31": {"bos_token": "<｜begin▁of▁sentence｜>", "eos_token": "<｜end▁of▁sentence｜>"},
    "vllm-tool_chat_template_hunyuan_a13b": {"bos_token": "<|startoftext|>", "eos_token": "<|eos|>"},
    "vllm-tool_chat_template_nemotron_json": {"bos_token": "<SPECIAL_10>", "eos_token": "<SPECIAL_12>"},
    "vllm-tool_chat_template_granite_20b_fc": {"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>"},
    "GLM-4.6": {"eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>"},
    "ByteDance-Seed-OSS": {"bos_token": "<seed:bos>", "eos_token": "<seed:eos>", "pad_token": "<seed:pad>"},
    "unsloth-MiniMax-M2": {"bos_token": "]~!b[", "eos_token": "[e~["},
    "vllm-tool_chat_template_mistral": LLAMA2,
    "vllm-tool_chat_template_phi4_mini": {"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>"},
})
DEFAULT_TOKENS = {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"}

# Extra keyword arguments a template reads (enable_thinking, ...): each adds cases of its own.
EXTRA = {
    "HuggingFaceTB-SmolLM3-3B": [{"enable_thinking": False}, {"enable_thinking": True}],
    "deepseek-ai-DeepSeek-V3.1": [{"thinking": True}],
    "GLM-4.6": [{"enable_thinking": False}],
    "glm_4_5": [{"enable_thinking": False}],
    "vllm-tool_chat_template_hunyuan_a13b": [{"enable_thinking": False}],
    "LFM2.5-8B-A1B": [{"preserve_thinking": True}],
    "unsloth-Apriel-1.5": [{"add_thoughts": True}],
    "vllm-tool_chat_template_granite_20b_fc": [{"full_function_description": True}],
    "ByteDance-Seed-OSS": [{"thinking_budget": 0}, {"thinking_budget": 512}],
    "CohereForAI-c4ai-command-r7b-12-2024-tool_use": [{"enable_citations": True}],
}


def msg(role, content, **more):
    return {"role": role, "content": content, **more}


WEATHER = {"type": "function", "function": {
    "name": "get_weather",
    "description": "Get the current weather in a city",
    "parameters": {"type": "object",
                   "properties": {"city": {"type": "string", "description": "The city, e.g. Paris"},
                                  "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
                   "required": ["city"]}}}
TIME = {"type": "function", "function": {
    "name": "get_time", "description": "Current time in a time zone",
    "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}, "required": ["tz"]}}}
CALL_ID = "call12345xyz"


def tool_call(arguments):
    return {"id": CALL_ID, "type": "function", "function": {"name": "get_weather", "arguments": arguments}}


SYSTEM = msg("system", "You are a concise assistant.")
TURNS = [msg("user", "What is 2+2?"), msg("assistant", "4"), msg("user", "And 3+3?")]
TOOL_TURNS = [
    msg("user", "What's the weather in Paris?"),
    msg("assistant", None, tool_calls=[tool_call({"city": "Paris", "unit": "celsius"})]),
    msg("tool", "{\"temperature\": 18, \"sky\": \"clear\"}", tool_call_id=CALL_ID, name="get_weather"),
    msg("assistant", "It is 18 °C and clear in Paris."),
    msg("user", "Thanks!"),
]


def cases():
    """(name, messages, tools, add_generation_prompt, extra kwargs); the same set for every template."""
    yield "user_only", [msg("user", "Hello!")], None, True, {}
    yield "system_multi_turn_generation_prompt", [SYSTEM] + TURNS, None, True, {}
    yield "system_multi_turn_no_generation_prompt", [SYSTEM] + TURNS, None, False, {}
    yield "multi_turn_ends_with_assistant", [msg("user", "Hi"), msg("assistant", "Hello! How can I help?")], None, False, {}
    yield "whitespace_unicode_and_braces", [
        msg("user", "  Ünïcödé ✓ 日本語 — \"quotes\" and 'single' {{ not code }} {% neither %}\n\n"),
        msg("assistant", "\tTabbed answer.  "), msg("user", "Line one\nLine two")], None, True, {}
    yield "thinking_in_history", [msg("user", "Why?"), msg("assistant", "<think>\nLet me see.\n</think>\n\nBecause."),
                                  msg("user", "OK")], None, True, {}
    yield "tools_defined", [SYSTEM, msg("user", "What's the weather in Paris?")], [WEATHER, TIME], True, {}
    yield "tools_defined_no_system", [msg("user", "What's the weather in Paris?")], [WEATHER], True, {}
    yield "tool_call_and_response", [SYSTEM] + TOOL_TURNS, [WEATHER], True, {}
    yield "tool_call_string_arguments", [
        msg("user", "What's the weather in Paris?"),
        msg("assistant", None, tool_calls=[tool_call("{\"city\": \"Paris\"}")]),
        msg("tool", "18 degrees", tool_call_id=CALL_ID)], [WEATHER], True, {}
    yield "content_parts", [msg("user", [{"type": "text", "text": "Describe this."}])], None, True, {}
    yield "starts_with_assistant", [msg("assistant", "I speak first."), msg("user", "Fine.")], None, True, {}
    yield "two_users_in_a_row", [msg("user", "One"), msg("user", "Two")], None, True, {}
    yield "unknown_role", [msg("user", "Hi"), msg("narrator", "Meanwhile...")], None, True, {}
    yield "empty_conversation", [], None, True, {}


def render(template, tokens, messages, tools, add_generation_prompt, extra):
    kwargs = {**tokens, **extra}
    if isinstance(template, jinja2.exceptions.TemplateSyntaxError):
        return {"error": {"type": "TemplateSyntaxError", "message": str(template)}}
    try:
        return {"expected": template.render(messages=messages, tools=tools, documents=None,
                                            add_generation_prompt=add_generation_prompt, **kwargs)}
    except jinja2.exceptions.TemplateSyntaxError:
        raise
    except Exception as e:  # what apply_chat_template would raise
        kind = "raise_exception" if type(e) is jinja2.exceptions.TemplateError else type(e).__name__
        return {"error": {"type": kind, "message": str(e)}}


def main():
    folders = sorted(p for p in ROOT.iterdir() if (p / "template.jinja").is_file())
    if not folders:
        sys.exit(f"no template folders under {ROOT}")
    total = 0
    for folder in folders:
        try:
            template = compile_template((folder / "template.jinja").read_text(encoding="utf-8"))
        except jinja2.exceptions.TemplateSyntaxError as e:  # apply_chat_template raises it for every conversation
            template = e
        tokens = TOKENS.get(folder.name, DEFAULT_TOKENS)
        lines = []
        variants = [("", {})] + [("__" + "_".join(f"{k}_{str(v).lower()}" for k, v in e.items()), e)
                                 for e in EXTRA.get(folder.name, [])]
        for suffix, variant in variants:
            for name, messages, tools, gen, extra in cases():
                extra = {**extra, **variant}
                out = render(template, tokens, messages, tools, gen, extra)
                case = {"case": name + suffix, "messages": messages, "tools": tools, "add_generation_prompt": gen,
                        "kwargs": {**tokens, **extra}, **out}
                lines.append(json.dumps(case, ensure_ascii=False))
        (folder / "cases.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
        errors = sum('"error"' in line for line in lines)
        print(f"{folder.name}: {len(lines)} cases ({errors} raise)")
        total += len(lines)
    print(f"{total} cases in {len(folders)} templates")


if __name__ == "__main__":
    main()
