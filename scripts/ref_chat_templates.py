#!/usr/bin/env python3
"""Reference renderings of real chat templates, for tests/chat (C++ ChatTemplate).

Regenerate with:
    FS_MODEL_SMOLLM2=/path/to/SmolLM2-135M-Instruct.Q4_1.gguf \
        python3 scripts/ref_chat_templates.py [--model PATH] [--out tests/data/chat/templates.json]

Collects SmolLM2's template from the GGUF (key tokenizer.chat_template, read with the `gguf`
package), plus well-known public model templates and a few feature templates written below,
and renders each over several conversations with jinja2 exactly as transformers'
apply_chat_template does: transformers' own compiled environment when transformers is
importable (ImmutableSandboxedEnvironment with trim_blocks=True, lstrip_blocks=True, loop
controls, tojson(ensure_ascii=False), raise_exception, strftime_now, namespace), else an
equivalent one built here. Render kwargs match render_jinja_template: messages, tools,
documents, add_generation_prompt, plus bos_token/eos_token. strftime_now is pinned to
NOW_UNIX (UTC) so the output is reproducible. A case whose render raises records
expected_error (and the message when the template called raise_exception).
Needs: jinja2 (pip install jinja2), gguf; transformers optional.
"""

import argparse
import copy
import json
import os
import sys
from datetime import datetime, timezone

import jinja2

NOW_UNIX = 1721952000  # 2024-07-26 00:00:00 UTC


def compile_template(source):
    try:
        from transformers.utils.chat_template_utils import _compile_jinja_template

        return _compile_jinja_template(source), "transformers"
    except ImportError:
        pass
    from jinja2.ext import loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    return env.from_string(source), "jinja2"


def fixed_strftime_now(fmt):
    return datetime.fromtimestamp(NOW_UNIX, tz=timezone.utc).strftime(fmt)


def smollm2_template(model_path):
    from gguf import GGUFReader

    reader = GGUFReader(model_path)

    def field_str(name):
        f = reader.fields[name]
        return bytes(f.parts[f.data[0]]).decode("utf-8")

    tokens = reader.fields["tokenizer.ggml.tokens"]

    def token(idx_key):
        f = reader.fields[idx_key]
        i = int(f.parts[f.data[0]][0])
        return bytes(tokens.parts[tokens.data[i]]).decode("utf-8")

    return {
        "source": field_str("tokenizer.chat_template"),
        "bos": token("tokenizer.ggml.bos_token_id"),
        "eos": token("tokenizer.ggml.eos_token_id"),
    }


# ---- public model templates (as published in the models' tokenizer_config.json) ----

LLAMA2 = (
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
    "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}"
    "{% set system_message = false %}{% endif %}{% for message in loop_messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if loop.index0 == 0 and system_message != false %}"
    "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
    "{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}"
    "{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}"
    "{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}"
)

LLAMA3 = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'"
    "+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"
)

LLAMA32 = """{{- bos_token }}
{%- if custom_tools is defined %}
    {%- set tools = custom_tools %}
{%- endif %}
{%- if not tools_in_user_message is defined %}
    {%- set tools_in_user_message = true %}
{%- endif %}
{%- if not date_string is defined %}
    {%- if strftime_now is defined %}
        {%- set date_string = strftime_now("%d %b %Y") %}
    {%- else %}
        {%- set date_string = "26 Jul 2024" %}
    {%- endif %}
{%- endif %}
{%- if not tools is defined %}
    {%- set tools = none %}
{%- endif %}

{#- This block extracts the system message, so we can slot it into the right place. #}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content']|trim %}
    {%- set messages = messages[1:] %}
{%- else %}
    {%- set system_message = "" %}
{%- endif %}

{#- System message #}
{{- "<|start_header_id|>system<|end_header_id|>\\n\\n" }}
{%- if tools is not none %}
    {{- "Environment: ipython\\n" }}
{%- endif %}
{{- "Cutting Knowledge Date: December 2023\\n" }}
{{- "Today Date: " + date_string + "\\n\\n" }}
{%- if tools is not none and not tools_in_user_message %}
    {{- "You have access to the following functions. To call a function, please respond with JSON for a function call." }}
    {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
    {{- "Do not use variables.\\n\\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\\n\\n" }}
    {%- endfor %}
{%- endif %}
{{- system_message }}
{{- "<|eot_id|>" }}

{#- Custom tools are passed in a user message with some extra guidance #}
{%- if tools_in_user_message and not tools is none %}
    {#- Extract the first user message so we can plug it in here #}
    {%- if messages | length != 0 %}
        {%- set first_user_message = messages[0]['content']|trim %}
        {%- set messages = messages[1:] %}
    {%- else %}
        {{- raise_exception("Cannot put tools in the first user message when there's no first user message!") }}
{%- endif %}
    {{- '<|start_header_id|>user<|end_header_id|>\\n\\n' -}}
    {{- "Given the following functions, please respond with a JSON for a function call " }}
    {{- "with its proper arguments that best answers the given prompt.\\n\\n" }}
    {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
    {{- "Do not use variables.\\n\\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\\n\\n" }}
    {%- endfor %}
    {{- first_user_message + "<|eot_id|>"}}
{%- endif %}

{%- for message in messages %}
    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}
        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' }}
    {%- elif 'tool_calls' in message %}
        {%- if not message.tool_calls|length == 1 %}
            {{- raise_exception("This model only supports single tool-calls at once!") }}
        {%- endif %}
        {%- set tool_call = message.tool_calls[0].function %}
        {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}
        {{- '{"name": "' + tool_call.name + '", ' }}
        {{- '"parameters": ' }}
        {{- tool_call.arguments | tojson }}
        {{- "}" }}
        {{- "<|eot_id|>" }}
    {%- elif message.role == "tool" or message.role == "ipython" %}
        {{- "<|start_header_id|>ipython<|end_header_id|>\\n\\n" }}
        {%- if message.content is mapping or message.content is iterable %}
            {{- message.content | tojson }}
        {%- else %}
            {{- message.content }}
        {%- endif %}
        {{- "<|eot_id|>" }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}
{%- endif %}
"""

MISTRAL = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}"
    "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}"
)

MISTRAL_NEMO = """{%- if messages[0]["role"] == "system" %}
    {%- set system_message = messages[0]["content"] %}
    {%- set loop_messages = messages[1:] %}
{%- else %}
    {%- set loop_messages = messages %}
{%- endif %}
{%- if not tools is defined %}
    {%- set tools = none %}
{%- endif %}
{%- set user_messages = loop_messages | selectattr("role", "equalto", "user") | list %}

{#- This block checks for alternating user/assistant messages, skipping tool calling messages #}
{%- set ns = namespace() %}
{%- set ns.index = 0 %}
{%- for message in loop_messages %}
    {%- if not (message.role == "tool" or message.role == "tool_results" or (message.tool_calls is defined and message.tool_calls is not none)) %}
        {%- if (message["role"] == "user") != (ns.index % 2 == 0) %}
            {{- raise_exception("After the optional system message, conversation roles must alternate user/assistant/user/assistant/...") }}
        {%- endif %}
        {%- set ns.index = ns.index + 1 %}
    {%- endif %}
{%- endfor %}

{{- bos_token }}
{%- for message in loop_messages %}
    {%- if message["role"] == "user" %}
        {%- if tools is not none and (message == user_messages[-1]) %}
            {{- "[AVAILABLE_TOOLS][" }}
            {%- for tool in tools %}
                {%- set tool = tool.function %}
                {{- '{"type": "function", "function": {' }}
                {%- for key, val in tool.items() if key != "return" %}
                    {%- if val is string %}
                        {{- '"' + key + '": "' + val + '"' }}
                    {%- else %}
                        {{- '"' + key + '": ' + val|tojson }}
                    {%- endif %}
                    {%- if not loop.last %}
                        {{- ", " }}
                    {%- endif %}
                {%- endfor %}
                {{- "}}" }}
                {%- if not loop.last %}
                    {{- ", " }}
                {%- else %}
                    {{- "]" }}
                {%- endif %}
            {%- endfor %}
            {{- "[/AVAILABLE_TOOLS]" }}
            {%- endif %}
        {%- if loop.last and system_message is defined %}
            {{- "[INST]" + system_message + "\\n\\n" + message["content"] + "[/INST]" }}
        {%- else %}
            {{- "[INST]" + message["content"] + "[/INST]" }}
        {%- endif %}
    {%- elif (message.tool_calls is defined and message.tool_calls is not none) %}
        {{- "[TOOL_CALLS][" }}
        {%- for tool_call in message.tool_calls %}
            {%- set out = tool_call.function|tojson %}
            {{- out[:-1] }}
            {%- if not tool_call.id is defined or tool_call.id|length != 9 %}
                {{- raise_exception("Tool call IDs should be alphanumeric strings with length 9!") }}
            {%- endif %}
            {{- ', "id": "' + tool_call.id + '"}' }}
            {%- if not loop.last %}
                {{- ", " }}
            {%- else %}
                {{- "]" + eos_token }}
            {%- endif %}
        {%- endfor %}
    {%- elif message["role"] == "assistant" %}
        {{- message["content"] + eos_token}}
    {%- elif message["role"] == "tool_results" or message["role"] == "tool" %}
        {%- if message.content is defined and message.content.content is defined %}
            {%- set content = message.content.content %}
        {%- else %}
            {%- set content = message.content %}
        {%- endif %}
        {{- '[TOOL_RESULTS]{"content": ' + content|string + ", " }}
        {%- if not message.tool_call_id is defined or message.tool_call_id|length != 9 %}
            {{- raise_exception("Tool call IDs should be alphanumeric strings with length 9!") }}
        {%- endif %}
        {{- '"call_id": "' + message.tool_call_id + '"}[/TOOL_RESULTS]' }}
    {%- else %}
        {{- raise_exception("Only user and assistant roles are supported, with the exception of an initial optional system message!") }}
    {%- endif %}
{%- endfor %}
"""

QWEN25 = """{%- if tools %}
    {{- '<|im_start|>system\\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] }}
    {%- else %}
        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}
    {%- endif %}
    {{- "\\n\\n# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\nYou are provided with function signatures within <tools></tools> XML tags:\\n<tools>" }}
    {%- for tool in tools %}
        {{- "\\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\"name\\": <function-name>, \\"arguments\\": <args-json-object>}\\n</tool_call><|im_end|>\\n" }}
{%- else %}
    {%- if messages[0]['role'] == 'system' %}
        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}
    {%- else %}
        {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}
    {%- endif %}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
        {%- if message.content %}
            {{- '\\n' + message.content }}
        {%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '\\n<tool_call>\\n{"name": "' }}
            {{- tool_call.name }}
            {{- '", "arguments": ' }}
            {{- tool_call.arguments | tojson }}
            {{- '}\\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\\n' }}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\\n<tool_response>\\n' }}
        {{- message.content }}
        {{- '\\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
{%- endif %}
"""

QWEN3 = """{%- if tools %}
    {{- '<|im_start|>system\\n' }}
    {%- if messages[0].role == 'system' %}
        {{- messages[0].content + '\\n\\n' }}
    {%- endif %}
    {{- "# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\nYou are provided with function signatures within <tools></tools> XML tags:\\n<tools>" }}
    {%- for tool in tools %}
        {{- "\\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\"name\\": <function-name>, \\"arguments\\": <args-json-object>}\\n</tool_call><|im_end|>\\n" }}
{%- else %}
    {%- if messages[0].role == 'system' %}
        {{- '<|im_start|>system\\n' + messages[0].content + '<|im_end|>\\n' }}
    {%- endif %}
{%- endif %}
{%- set ns = namespace(multi_step_tool=true, last_query_index=messages|length - 1) %}
{%- for message in messages[::-1] %}
    {%- set index = (messages|length - 1) - loop.index0 %}
    {%- if ns.multi_step_tool and message.role == "user" and message.content is string and not(message.content.startswith('<tool_response>') and message.content.endswith('</tool_response>')) %}
        {%- set ns.multi_step_tool = false %}
        {%- set ns.last_query_index = index %}
    {%- endif %}
{%- endfor %}
{%- for message in messages %}
    {%- if message.content is string %}
        {%- set content = message.content %}
    {%- else %}
        {%- set content = '' %}
    {%- endif %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) %}
        {{- '<|im_start|>' + message.role + '\\n' + content + '<|im_end|>' + '\\n' }}
    {%- elif message.role == "assistant" %}
        {%- set reasoning_content = '' %}
        {%- if message.reasoning_content is string %}
            {%- set reasoning_content = message.reasoning_content %}
        {%- else %}
            {%- if '</think>' in content %}
                {%- set reasoning_content = content.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') %}
                {%- set content = content.split('</think>')[-1].lstrip('\\n') %}
            {%- endif %}
        {%- endif %}
        {%- if loop.index0 > ns.last_query_index %}
            {%- if loop.last or (not loop.last and reasoning_content) %}
                {{- '<|im_start|>' + message.role + '\\n<think>\\n' + reasoning_content.strip('\\n') + '\\n</think>\\n\\n' + content.lstrip('\\n') }}
            {%- else %}
                {{- '<|im_start|>' + message.role + '\\n' + content }}
            {%- endif %}
        {%- else %}
            {{- '<|im_start|>' + message.role + '\\n' + content }}
        {%- endif %}
        {%- if message.tool_calls %}
            {%- for tool_call in message.tool_calls %}
                {%- if (loop.first and content) or (not loop.first) %}
                    {{- '\\n' }}
                {%- endif %}
                {%- if tool_call.function %}
                    {%- set tool_call = tool_call.function %}
                {%- endif %}
                {{- '<tool_call>\\n{"name": "' }}
                {{- tool_call.name }}
                {{- '", "arguments": ' }}
                {%- if tool_call.arguments is string %}
                    {{- tool_call.arguments }}
                {%- else %}
                    {{- tool_call.arguments | tojson }}
                {%- endif %}
                {{- '}\\n</tool_call>' }}
            {%- endfor %}
        {%- endif %}
        {{- '<|im_end|>\\n' }}
    {%- elif message.role == "tool" %}
        {%- if loop.first or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\\n<tool_response>\\n' }}
        {{- content }}
        {{- '\\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
    {%- if enable_thinking is defined and enable_thinking is false %}
        {{- '<think>\\n\\n</think>\\n\\n' }}
    {%- endif %}
{%- endif %}"""

GEMMA3 = """{{ bos_token }}
{%- if messages[0]['role'] == 'system' -%}
    {%- if messages[0]['content'] is string -%}
        {%- set first_user_prefix = messages[0]['content'] + '\\n\\n' -%}
    {%- else -%}
        {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\\n\\n' -%}
    {%- endif -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set first_user_prefix = "" -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}
        {{ raise_exception("Conversation roles must alternate user/assistant/user/assistant/...") }}
    {%- endif -%}
    {%- if (message['role'] == 'assistant') -%}
        {%- set role = "model" -%}
    {%- else -%}
        {%- set role = message['role'] -%}
    {%- endif -%}
    {{ '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else "") }}
    {%- if message['content'] is string -%}
        {{ message['content'] | trim }}
    {%- elif message['content'] is iterable -%}
        {%- for item in message['content'] -%}
            {%- if item['type'] == 'image' -%}
                {{ '<start_of_image>' }}
            {%- elif item['type'] == 'text' -%}
                {{ item['text'] | trim }}
            {%- endif -%}
        {%- endfor -%}
    {%- else -%}
        {{ raise_exception("Invalid content type") }}
    {%- endif -%}
    {{ '<end_of_turn>\\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{'<start_of_turn>model\\n'}}
{%- endif -%}
"""

GEMMA = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
    "{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}"
    "{% endif %}{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\\n'}}{% endif %}"
)

ZEPHYR = """{% for message in messages %}
{% if message['role'] == 'user' %}
{{ '<|user|>\\n' + message['content'] + eos_token }}
{% elif message['role'] == 'system' %}
{{ '<|system|>\\n' + message['content'] + eos_token }}
{% elif message['role'] == 'assistant' %}
{{ '<|assistant|>\\n'  + message['content'] + eos_token }}
{% endif %}
{% if loop.last and add_generation_prompt %}
{{ '<|assistant|>' }}
{% endif %}
{% endfor %}"""

PHI3 = (
    "{% for message in messages %}{% if message['role'] == 'system' %}"
    "{{'<|system|>\\n' + message['content'] + '<|end|>\\n'}}{% elif message['role'] == 'user' %}"
    "{{'<|user|>\\n' + message['content'] + '<|end|>\\n'}}{% elif message['role'] == 'assistant' %}"
    "{{'<|assistant|>\\n' + message['content'] + '<|end|>\\n'}}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% else %}{{ eos_token }}{% endif %}"
)

DEEPSEEK_R1_DISTILL = (
    "{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}"
    "{% set ns = namespace(is_first=false, is_tool=false, is_output_first=true, system_prompt='') %}"
    "{%- for message in messages %}{%- if message['role'] == 'system' %}{% set ns.system_prompt = message['content'] %}"
    "{%- endif %}{%- endfor %}{{bos_token}}{{ns.system_prompt}}{%- for message in messages %}"
    "{%- if message['role'] == 'user' %}{%- set ns.is_tool = false -%}{{'<｜User｜>' + message['content']}}{%- endif %}"
    "{%- if message['role'] == 'assistant' and message['content'] is none %}{%- set ns.is_tool = false -%}"
    "{%- for tool in message['tool_calls']%}{%- if not ns.is_first %}"
    "{{'<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' + tool['function']['name'] + '\\n' + '```json' + '\\n' + tool['function']['arguments'] + '\\n' + '```' + '<｜tool▁call▁end｜>'}}"
    "{%- set ns.is_first = true -%}{%- else %}"
    "{{'\\n' + '<｜tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' + tool['function']['name'] + '\\n' + '```json' + '\\n' + tool['function']['arguments'] + '\\n' + '```' + '<｜tool▁call▁end｜>'}}"
    "{{'<｜tool▁calls▁end｜><｜end▁of▁sentence｜>'}}{%- endif %}{%- endfor %}{%- endif %}"
    "{%- if message['role'] == 'assistant' and message['content'] is not none %}{%- if ns.is_tool %}"
    "{{'<｜tool▁outputs▁end｜>' + message['content'] + '<｜end▁of▁sentence｜>'}}{%- set ns.is_tool = false -%}"
    "{%- else %}{% set content = message['content'] %}{% if '</think>' in content %}"
    "{% set content = content.split('</think>')[-1] %}{% endif %}"
    "{{'<｜Assistant｜>' + content + '<｜end▁of▁sentence｜>'}}{%- endif %}{%- endif %}"
    "{%- if message['role'] == 'tool' %}{%- set ns.is_tool = true -%}{%- if ns.is_output_first %}"
    "{{'<｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>' + message['content'] + '<｜tool▁output▁end｜>'}}"
    "{%- set ns.is_output_first = false %}{%- else %}"
    "{{'\\n<｜tool▁output▁begin｜>' + message['content'] + '<｜tool▁output▁end｜>'}}{%- endif %}{%- endif %}"
    "{%- endfor -%}{% if ns.is_tool %}{{'<｜tool▁outputs▁end｜>'}}{% endif %}"
    "{% if add_generation_prompt and not ns.is_tool %}{{'<｜Assistant｜><think>\\n'}}{% endif %}"
)

# Same text as flashstream::ChatMlTemplateSource(), the fallback for models without a template.
CHATML = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

# ---- feature templates: exercise the interpreter beyond what the model templates use ----

FEATURE_FILTERS = """{#- filters, tests, methods and loop variables -#}
{%- set roles = messages | map(attribute='role') | list -%}
roles={{ roles | join(',') }} unique={{ roles | unique | list | join('+') }} n={{ messages | length }}
users={{ messages | selectattr('role', 'equalto', 'user') | list | length }} nonsys={{ messages | rejectattr('role', 'eq', 'system') | map(attribute='role') | join(' ') }}
{% for m in messages if m.role != 'system' %}
  [{{ loop.index }}/{{ loop.length }} {{ loop.index0 }} {{ loop.revindex }}{{ ' first' if loop.first }}{{ ' last' if loop.last }}] {{ m.role | upper }} {{ m.role | title }} {{ m.role | capitalize }}: {{ m.content | trim | replace('\\n', ' / ') }} ({{ m.content | length }} chars, {{ m.content.split() | length }} words)
  {{ m.content.strip().startswith('Hel') }} {{ m.content.endswith('?') }} {{ m.content.lower().find('a') }} {{ m.content[:5] | tojson }} {{ m.content[-3:] | reverse }} {{ m.content.upper()[::2] }}
  {{ m | tojson }} {{ m | dictsort | list }} {{ m.get('missing', 'dflt') }} {{ m.keys() | list }} {{ m.items() | list | length }}
{% else %}
  (no non-system messages)
{% endfor %}
{{ roles[0] if roles else 'none' }} {{ roles[-1] | default('x') }} {{ missing | default('dflt') }} {{ '' | default('empty', true) }} {{ none | string }} {{ true }} {{ 3 // 2 }} {{ 7 / 2 }} {{ 2 ** 10 }} {{ -5 % 3 }} {{ 1.5 + 2 }} {{ '%s=%d' % ('x', 42) }} {{ '{}-{}'.format('a', 1) }}
{{ [3, 1, 2] | sort }} {{ ['b', 'A', 'c'] | sort(reverse=true) }} {{ [1, 2, 3] | sum }} {{ [4, 9] | max }} {{ [4, 9] | min }} {{ range(3) | list }} {{ range(1, 10, 3) | list }} {{ (1, 'two', [3.0, none]) }}
{{ {'b': 1, 'a': [1, 2]} | tojson }} {{ {'b': 1, 'a': [1, {}]} | tojson(indent=2) }} {{ {'b': 1, 'a': 2} | tojson(sort_keys=true) }} {{ 'héllo "q" \\\\ \\t' | tojson }} {{ ['x', 'é'] | tojson(ensure_ascii=true) }}
{{ 'a,b,,c'.split(',') }} {{ '  x  y '.split() }} {{ 'x' ~ 1 ~ none ~ missing }} {{ 'abc' * 2 }} {{ 'b' in 'abc' }} {{ 3 not in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 2 is even }} {{ 3 is odd }} {{ 9 is divisibleby 3 }}
{{ messages is iterable }} {{ messages[0] is mapping }} {{ 'x' is string }} {{ 1.0 is number }} {{ 1 is integer }} {{ none is none }} {{ missing is defined }} {{ missing is undefined }} {{ 'ab' is lower }} {{ 'AB' is upper }}
{{ 12.5 | int }} {{ '42' | int }} {{ 'x' | int(7) }} {{ '3.25' | float }} {{ 3.14159 | round(2) }} {{ 2.5 | round }} {{ -3 | abs }} {{ 'line1\\nline2' | indent(2) }} {{ 'a\\n\\nb' | indent(2, true, true) }}
{{ [1, 2, 3] | first }} {{ [1, 2, 3] | last }} {{ 'xyz' | first }} {{ {'a': 1} | items | list }} {{ ['a', 'b'] | map('upper') | join }} {{ [0, 1, 2] | select | list }} {{ [0, 1, 2] | reject('odd') | list }}
{{ 'hello world'.title() }} {{ 'hello-world (x)' | title }} {{ 'ab' | center(6) }}| {{ 'a.b.c'.rsplit('.', 1) }} {{ 'x\\ny\\r\\nz'.splitlines() }} {{ '--x--'.strip('-') }} {{ 'abcabc'.replace('b', 'B', 1) }} {{ 'abc'.count('b') }}
"""

FEATURE_STATEMENTS = """{#- set, namespaces, macros, loops with break/continue, filter blocks, raw -#}
{%- macro render(msg, prefix='>') -%}
{{ prefix }} {{ msg.role }}: {{ msg.content | trim }}
{%- endmacro -%}
{%- set ns = namespace(count=0, last_user='', seen=[]) -%}
{%- for m in messages -%}
  {%- if m.role == 'user' -%}
    {%- set ns.count = ns.count + 1 -%}
    {%- set ns.last_user = m.content -%}
  {%- endif -%}
  {%- set ns.seen = ns.seen + [m.role] -%}
{%- endfor -%}
users: {{ ns.count }}, last: {{ ns.last_user | tojson }}, seen: {{ ns.seen }}
{% set a, b = 1, 2 -%}
a={{ a }} b={{ b }}
{% for k, v in {'x': 1, 'y': 2}.items() %}{{ k }}={{ v }}{{ ',' if not loop.last }}{% endfor %}

{% for m in messages %}
    {% if loop.index > 3 %}{% break %}{% endif %}
    {% if m.role == 'system' %}{% continue %}{% endif %}
    {{ render(m) }}
    {{ render(m, prefix='*') }}
{% endfor %}
{%- set outer = 'outer' %}
{% for i in range(2) %}{% set outer = 'inner' ~ i %}{{ outer }} {% endfor %}{{ outer }}
{% filter upper %}shouted {{ messages | length }} times{% endfilter %}
{% set block %}
  captured {{ add_generation_prompt }}
{% endset %}
[{{ block }}]
{% with x = 5, y = 'w' %}{{ x }}{{ y }}{% endwith %}
{% raw %}{{ not rendered }} {% if %}{% endraw %}
{{ loop_var is defined }}{% for i in [] %}x{% else %}empty-else{% endfor %}
  {# an indented comment line is removed with its indentation #}
  {% if true %}
    indented text keeps its spaces
  {% endif %}
{%+ if true %}plus-lstrip-disabled{% endif +%}
kept newline
{{- '  trimmed-left' }}  {{ 'x' -}}   
  end
{% if add_generation_prompt %}<|assistant|>{% endif %}
"""

TEMPLATES = {
    "llama2": {"source": LLAMA2, "bos": "<s>", "eos": "</s>"},
    "llama3": {"source": LLAMA3, "bos": "<|begin_of_text|>", "eos": "<|eot_id|>"},
    "llama3_2": {"source": LLAMA32, "bos": "<|begin_of_text|>", "eos": "<|eot_id|>"},
    "mistral": {"source": MISTRAL, "bos": "<s>", "eos": "</s>"},
    "mistral_nemo": {"source": MISTRAL_NEMO, "bos": "<s>", "eos": "</s>"},
    "qwen2_5": {"source": QWEN25, "bos": "", "eos": "<|im_end|>"},
    "qwen3": {"source": QWEN3, "bos": "", "eos": "<|im_end|>"},
    "gemma": {"source": GEMMA, "bos": "<bos>", "eos": "<eos>"},
    "gemma3": {"source": GEMMA3, "bos": "<bos>", "eos": "<eos>"},
    "zephyr": {"source": ZEPHYR, "bos": "<s>", "eos": "</s>"},
    "phi3": {"source": PHI3, "bos": "<s>", "eos": "<|endoftext|>"},
    "deepseek_r1_distill": {"source": DEEPSEEK_R1_DISTILL, "bos": "<｜begin▁of▁sentence｜>", "eos": "<｜end▁of▁sentence｜>"},
    "chatml": {"source": CHATML, "bos": "", "eos": "<|im_end|>"},
    "feature_filters": {"source": FEATURE_FILTERS, "bos": "<s>", "eos": "</s>"},
    "feature_statements": {"source": FEATURE_STATEMENTS, "bos": "<s>", "eos": "</s>"},
}

SPECIAL = (
    "  Quotes ' and \" and \\\\ backslash, tab\there, {{ not a tag }} {% nor this %}\n"
    "Unicode: héllo wörld — 中文 😀, and a literal <|im_end|> token.\r\nTrailing spaces   "
)

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get the current weather in a city.",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string", "description": "City name, e.g. Paris"},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                },
                "required": ["city"],
            },
        },
    }
]

CONVERSATIONS = {
    "system_user": [
        {"role": "system", "content": "You are a concise assistant."},
        {"role": "user", "content": "Hello! What is 2+2?"},
    ],
    "multi_turn": [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Hi there"},
        {"role": "assistant", "content": "Hello! How can I help you today?"},
        {"role": "user", "content": "Tell me a joke about cats."},
    ],
    "no_system": [
        {"role": "user", "content": "What's the capital of France?"},
        {"role": "assistant", "content": " Paris is the capital of France. "},
        {"role": "user", "content": "And of Italy?"},
    ],
    "single_user": [{"role": "user", "content": "Hello"}],
    "special_chars": [
        {"role": "system", "content": "System\nwith newline"},
        {"role": "user", "content": SPECIAL},
    ],
    "reasoning": [
        {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": "<think>\nSimple arithmetic.\n</think>\n\nIt is 4."},
        {"role": "user", "content": "And 3+3?"},
    ],
    "content_parts": [
        {"role": "system", "content": [{"type": "text", "text": "You describe images."}]},
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": " What is in this picture? "}]},
    ],
    "bad_alternation": [
        {"role": "user", "content": "first"},
        {"role": "user", "content": "second"},
    ],
    "empty": [],
    "tool_calls": [
        {"role": "system", "content": "You can call tools."},
        {"role": "user", "content": "What's the weather in Paris?"},
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": "call00001",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call00001", "content": "{\"temperature\": 21, \"sky\": \"clear\"}"},
        {"role": "assistant", "content": "It is 21 °C and clear in Paris."},
        {"role": "user", "content": "Thanks!"},
    ],
}


def render_case(name, tmpl, conv_name, messages, add_gen):
    compiled, engine = compile_template(tmpl["source"])
    with_tools = conv_name == "tool_calls"
    context = {
        "messages": copy.deepcopy(messages),
        "tools": copy.deepcopy(TOOLS) if with_tools else None,
        "documents": None,
        "add_generation_prompt": add_gen,
        "bos_token": tmpl["bos"],
        "eos_token": tmpl["eos"],
    }
    case = {
        "name": f"{name}/{conv_name}/{'gen' if add_gen else 'nogen'}",
        "template": name,
        "plain": not with_tools and all(isinstance(m.get("content"), str) for m in messages),
        "context": copy.deepcopy(context),
    }
    try:
        case["expected"] = compiled.render(**context, strftime_now=fixed_strftime_now)
    except jinja2.exceptions.TemplateError as e:
        case["expected_error"] = f"{type(e).__name__}: {e}"
        # Only raise_exception() produces a bare TemplateError; its message must be reported.
        if type(e) is jinja2.exceptions.TemplateError:
            case["raised"] = str(e)
    except Exception as e:  # noqa: BLE001 - Python-level errors (TypeError, ...) are template errors too
        case["expected_error"] = f"{type(e).__name__}: {e}"
    return case, engine


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=os.environ.get("FS_MODEL_SMOLLM2"), help="SmolLM2 GGUF path")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests", "data", "chat", "templates.json"))
    args = ap.parse_args()
    if not args.model:
        sys.exit("set FS_MODEL_SMOLLM2 or pass --model")
    templates = {"smollm2": smollm2_template(args.model), **TEMPLATES}
    cases = []
    engines = set()
    for name, tmpl in templates.items():
        for conv_name, messages in CONVERSATIONS.items():
            for add_gen in (False, True):
                case, engine = render_case(name, tmpl, conv_name, messages, add_gen)
                engines.add(engine)
                cases.append(case)
    out = {
        "generator": "scripts/ref_chat_templates.py",
        "engine": sorted(engines),
        "jinja2_version": jinja2.__version__,
        "now_unix": NOW_UNIX,
        "templates": templates,
        "cases": cases,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")
    n_err = sum("expected_error" in c for c in cases)
    print(f"wrote {len(cases)} cases ({n_err} expect errors) for {len(templates)} templates to {args.out}")


if __name__ == "__main__":
    main()
