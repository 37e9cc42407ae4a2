// Unit tests for ChatTemplate: constructs, whitespace rules, error messages and limits.
// Expected renderings in kCases are jinja2 3.1 outputs under transformers' environment
// (trim_blocks, lstrip_blocks, loop controls), for the context in Context().
#include "tokenizer/chat_template.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace flashstream {
namespace {

struct Case {
  const char* name;
  const char* source;
  const char* expected;
};

const Case kCases[] = {
    {"trim_blocks", "{% if true %}\nA\n{% endif %}\nB", "A\nB"},
    {"lstrip_blocks", "  {% if true %}\n  A\n  {% endif %}\nB", "  A\nB"},
    {"lstrip_not_for_vars", "  {{ 'x' }}\n", "  x"},
    {"minus_strips_all", "a  \n  {%- if true -%}  \n  b  \n  {%- endif -%}\n  c", "abc"},
    {"var_minus", "a \n {{- 'b' -}} \n c", "abc"},
    {"plus_keeps", "  {%+ if true %}x{% endif +%}\ny", "  x\ny"},
    {"comment_lstrip_trim", "a\n   {# note #}\nb", "a\nb"},
    {"trailing_newline_dropped", "x\n", "x"},
    {"only_one_trailing_newline", "x\n\n", "x\n"},
    {"crlf_normalized", "a\r\nb\rc{% if true %}\r\nd{% endif %}", "a\nb\ncd"},
    {"raw_block", "{% raw %}{{ x }}{% endraw %}", "{{ x }}"},
    {"loop_vars",
     "{% for m in messages %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.first }}{{ loop.last }}{{ "
     "loop.length }};{% endfor %}",
     "102TrueFalse2;211FalseTrue2;"},
    {"loop_filter",
     "{% for m in messages if m.role == 'user' %}{{ loop.index }}/{{ loop.length }} {{ m.content }}{% endfor %}",
     "1/1  Hi "},
    {"for_else", "{% for x in [] %}x{% else %}empty{% endfor %}", "empty"},
    {"for_unpack", "{% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}={{ v }} {% endfor %}", "a=1 b=2 "},
    {"break_continue",
     "{% for i in range(6) %}{% if i == 1 %}{% continue %}{% endif %}{% if i == 4 %}{% break %}{% endif %}{{ i }}{% "
     "endfor %}",
     "023"},
    {"loop_cycle_prev",
     "{% for x in 'abc' %}{{ loop.cycle('+', '-') }}{{ loop.previtem }}{{ loop.nextitem }}|{% endfor %}", "+b|-ac|+b|"},
    {"for_over_string_dict",
     "{% for c in 'hé' %}[{{ c }}]{% endfor %}{% for k in {'x': 1, 'y': 2} %}{{ k }}{% endfor %}", "[h][é]xy"},
    {"set_in_loop_does_not_leak", "{% set x = 1 %}{% for i in range(3) %}{% set x = i + 10 %}{% endfor %}{{ x }}", "1"},
    {"set_in_if_leaks", "{% if true %}{% set y = 2 %}{% endif %}{{ y }}", "2"},
    {"namespace",
     "{% set ns = namespace(n=0, s='') %}{% for m in messages %}{% set ns.n = ns.n + 1 %}{% set ns.s = ns.s ~ "
     "m.role[0] %}{% endfor %}{{ ns.n }}{{ ns.s }}",
     "2su"},
    {"set_tuple", "{% set a, b = 'xy' %}{{ b }}{{ a }}", "yx"},
    {"set_block", "{% set body | upper %}hi {{ 'there' }}{% endset %}[{{ body }}]", "[HI THERE]"},
    {"macro_defaults_kwargs",
     "{% macro tag(name, open='<', close='>') %}{{ open }}{{ name }}{{ close }}{% endmacro %}{{ tag('a') }}{{ tag('b', "
     "close=']') }}",
     "<a><b]"},
    {"filter_block", "{% filter upper %}abc{{ 'd' }}{% endfilter %}", "ABCD"},
    {"with_block", "{% with a = 3 %}{{ a * 2 }}{% endwith %}{{ a is defined }}", "6False"},
    {"arith",
     "{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 2 ** 10 }} {{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} "
     "{{ 0.1 + 0.2 }} {{ 1e20 }} {{ 1.0 }}",
     "3 -4 1 2 3.5 1024 7 9 0.30000000000000004 1e+20 1.0"},
    {"compare_logic",
     "{{ 1 < 2 < 3 }} {{ 1 < 3 < 2 }} {{ 'a' in 'cat' }} {{ 3 not in [1, 2] }} {{ none or 'dflt' }} {{ 0 and 1 }} {{ "
     "not '' }}",
     "True False True True dflt 0 True"},
    {"ternary", "{{ 'y' if messages else 'n' }}|{{ 'only' if false }}|", "y||"},
    {"concat", "{{ 'a' ~ 1 ~ none ~ true ~ missing }} {{ 'a' + 'b' }}", "a1NoneTrue ab"},
    {"subscript_slices",
     "{{ messages[-1].content }}|{{ messages[1:] | length }}|{{ 'hello'[::-1] }}|{{ [1, 2, 3, 4][1:3] }}|{{ [1, 2, "
     "3][::2] }}|{{ 'héllo'[1] }}",
     " Hi |1|olleh|[2, 3]|[1, 3]|é"},
    {"literals_repr", "{{ [1, 'a', none, true, 1.5, (2,), {'k': [1]}] }}",
     "[1, 'a', None, True, 1.5, (2,), {'k': [1]}]"},
    {"string_escapes", "{{ 'tab\\there\\nnl \\'q\\' \\x41\\u00e9' }}", "tab\there\nnl 'q' Aé"},
    {"undefined",
     "[{{ nope }}][{{ messages[0].nope }}][{{ nope is defined }}][{{ nope | default('d') }}][{{ nope | length }}]",
     "[][][False][d][0]"},
    {"tests",
     "{{ 1 is number }}{{ 'a' is string }}{{ {} is mapping }}{{ [] is iterable }}{{ none is none }}{{ 4 is even }}{{ 3 "
     "is odd }}{{ 9 is divisibleby(3) }}{{ 'a' is in('abc') }}{{ 1 is integer }}{{ 1.0 is float }}{{ true is boolean "
     "}}",
     "TrueTrueTrueTrueTrueTrueTrueTrueTrueTrueTrueTrue"},
    {"filters_text",
     "{{ '  x  ' | trim }}|{{ 'aBc' | upper }}|{{ 'aBc' | lower }}|{{ 'hello wORLD' | title }}|{{ 'hello wORLD' | "
     "capitalize }}|{{ 'a-b' | replace('-', '+') }}|{{ 'x' | string }}|{{ 12 | string }}",
     "x|ABC|abc|Hello World|Hello world|a+b|x|12"},
    {"filters_lists",
     "{{ [3, 1, 2] | sort }}|{{ [1, 2] | join('-') }}|{{ [1, 2] | first }}|{{ [1, 2] | last }}|{{ [1, 2, 1] | unique | "
     "list }}|{{ messages | map(attribute='role') | join(',') }}|{{ messages | selectattr('role', 'equalto', 'user') | "
     "list | length }}|{{ [1, 2] | reverse | list }}",
     "[1, 2, 3]|1-2|1|2|[1, 2]|system,user|1|[2, 1]"},
    {"filters_numbers",
     "{{ '42' | int }}|{{ '4.5' | float }}|{{ 'x' | int }}|{{ 3.7 | int }}|{{ 2.567 | round(2) }}|{{ -2 | abs }}|{{ "
     "[1, 2, 3] | sum }}|{{ [4, 2] | max }}",
     "42|4.5|0|3|2.57|2|6|4"},
    {"tojson",
     "{{ {'a': 'é\"\\n', 'b': [1, 2.5, none, true]} | tojson }}|{{ [1, [2]] | tojson(indent=2) }}|{{ {'b': 1, 'a': 2} "
     "| tojson(sort_keys=true) }}",
     "{\"a\": \"é\\\"\\n\", \"b\": [1, 2.5, null, true]}|[\n  1,\n  [\n    2\n  ]\n]|{\"a\": 2, \"b\": 1}"},
    {"str_methods",
     "{{ ' a b '.strip() }}|{{ 'a,b'.split(',') }}|{{ 'abc'.startswith('ab') }}|{{ 'abc'.endswith('bc') }}|{{ "
     "'abc'.upper() }}|{{ 'a b'.title() }}|{{ 'xax'.replace('x', 'y') }}|{{ '--a--'.lstrip('-') }}|{{ "
     "'--a--'.rstrip('-') }}",
     "a b|['a', 'b']|True|True|ABC|A B|yay|a--|--a"},
    {"dict_methods",
     "{% set d = {'a': 1, 'b': 2} %}{{ d.get('a') }}{{ d.get('z', 'dflt') }}{{ d.keys() | list }}{{ d.values() | list "
     "}}{{ d.items() | list }}{{ d | length }}",
     "1dflt['a', 'b'][1, 2][('a', 1), ('b', 2)]2"},
    {"indent", "{{ 'a\\nb\\n\\nc' | indent(2) }}|{{ 'a\\nb' | indent(2, first=true) }}", "a\n  b\n\n  c|  a\n  b"},
    {"generator_truthiness", "{{ 'yes' if messages | selectattr('role', 'equalto', 'nobody') else 'no' }}", "yes"},
    {"strftime", "{{ strftime_now('%Y-%m-%d %H:%M') }}", "2024-07-26 00:00"},
    {"items_filter", "{% for k, v in {'x': 1} | items %}{{ k }}{{ v }}{% endfor %}", "x1"},
    {"dict_and_range_globals", "{{ dict(a=1, b='x') }}{{ range(2, 8, 2) | list }}", "{'a': 1, 'b': 'x'}[2, 4, 6]"},
    {"percent_and_format", "{{ '%s is %d' % ('x', 3) }}|{{ '{} and {}'.format('a', 'b') }}", "x is 3|a and b"},
};

nlohmann::ordered_json Context() {
  return nlohmann::ordered_json::parse(R"({
    "messages": [{"role": "system", "content": "S"}, {"role": "user", "content": " Hi "}],
    "add_generation_prompt": true, "bos_token": "<s>", "eos_token": "</s>", "tools": null, "documents": null})");
}

ChatRenderOptions FixedClock() {
  ChatRenderOptions o;
  o.now_unix = 1721952000;  // 2024-07-26 00:00 UTC, as in scripts/ref_chat_templates.py
  return o;
}

Result<std::string> RenderSource(const std::string& source, const ChatRenderOptions& options = FixedClock()) {
  FS_ASSIGN_OR_RETURN(ChatTemplate t, ChatTemplate::Parse(source));
  return t.RenderContext(Context(), options);
}

std::string ErrorOf(const std::string& source, const ChatRenderOptions& options = FixedClock()) {
  Result<std::string> r = RenderSource(source, options);
  return r.ok() ? "(rendered: " + *r + ")" : r.status().message();
}

TEST(ChatTemplate, ConstructsRenderLikeJinja2) {
  for (const Case& c : kCases) {
    Result<std::string> out = RenderSource(c.source);
    ASSERT_TRUE(out.ok()) << c.name << ": " << out.status().message();
    EXPECT_EQ(*out, c.expected) << c.name;
  }
}

TEST(ChatTemplate, RenderTakesChatMessages) {
  Result<ChatTemplate> t = ChatTemplate::Parse(ChatMlTemplateSource());
  ASSERT_TRUE(t.ok()) << t.status().message();
  const std::vector<ChatMessage> msgs = {{"system", "Be brief."}, {"user", "Hi"}};
  Result<std::string> with_prompt = t->Render(msgs, true, "", "<|im_end|>");
  ASSERT_TRUE(with_prompt.ok()) << with_prompt.status().message();
  EXPECT_EQ(*with_prompt,
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  Result<std::string> without = t->Render(msgs, false, "", "<|im_end|>");
  ASSERT_TRUE(without.ok());
  EXPECT_EQ(*without, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n");
}

TEST(ChatTemplate, RenderPassesToolsAndDocumentsAsNone) {
  Result<ChatTemplate> t = ChatTemplate::Parse(
      "{{ tools is defined }} {{ tools is none }} {{ documents is none }} {{ bos_token }}{{ eos_token }}"
      "{{ add_generation_prompt }}");
  ASSERT_TRUE(t.ok());
  Result<std::string> out = t->Render({}, false, "<s>", "</s>");
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(*out, "True True True <s></s>False");
}

TEST(ChatTemplate, ContextKeepsKeyOrderForToJson) {
  Result<ChatTemplate> t = ChatTemplate::Parse("{{ tools[0] | tojson }}");
  ASSERT_TRUE(t.ok());
  const auto ctx = nlohmann::ordered_json::parse(R"({"tools": [{"z": 1, "a": {"y": [], "b": "é"}}]})");
  Result<std::string> out = t->RenderContext(ctx);
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(*out, R"({"z": 1, "a": {"y": [], "b": "é"}})");
}

TEST(ChatTemplate, RaiseExceptionBecomesErrorWithMessageAndPosition) {
  const std::string err = ErrorOf(
      "{% if messages[0].role == 'system' %}\n  {{ raise_exception('System role not supported') }}\n{% endif %}");
  EXPECT_NE(err.find("System role not supported"), std::string::npos) << err;
  EXPECT_NE(err.find("line 2:"), std::string::npos) << err;
}

// Parse errors: one line naming the position and what was expected.
TEST(ChatTemplate, ParseErrorsNamePositionAndExpectation) {
  struct ErrCase {
    const char* source;
    std::vector<const char*> fragments;
  };
  const ErrCase cases[] = {
      {"{% if x %}abc", {"line 1:14", "'endif'", "end of template", "'if' opened at line 1:4"}},
      {"a\n{% for m in messages %}\n{{ m }}", {"line 3:", "'endfor'", "end of template"}},
      {"{{ x ", {"line 1:1", "'}}'"}},
      {"{% if x ", {"line 1:1", "'%}'"}},
      {"{{ x | nope }}", {"line 1:8", "unknown filter 'nope'"}},
      {"{{ x is nope }}", {"line 1:9", "unknown test 'nope'"}},
      {"{{ 1 + }}", {"line 1:8", "expected an expression", "'}}'"}},
      {"\n\n  {% frobnicate %}", {"line 3:6", "unknown tag 'frobnicate'"}},
      {"{% if x %}{% endfor %}", {"line 1:14", "'endfor'", "'if'"}},
      {"{{ 'abc }}", {"line 1:4", "unterminated string"}},
      {"{# never closed", {"line 1:1", "'#}'"}},
      {"{{ (1, 2 }}", {"line 1:", "unexpected '}'"}},
      {"{% break %}", {"line 1:4", "'break' outside a for loop"}},
      {"{% include 'x' %}", {"line 1:4", "'include' is not supported"}},
      {"{{ a ! b }}", {"line 1:6", "unexpected character '!'"}},
      {"{% set = 1 %}", {"line 1:8", "expected a name"}},
  };
  for (const ErrCase& c : cases) {
    Result<ChatTemplate> t = ChatTemplate::Parse(c.source);
    ASSERT_FALSE(t.ok()) << c.source;
    const std::string& msg = t.status().message();
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    EXPECT_EQ(msg.rfind("chat template line ", 0), 0u) << msg;
    for (const char* f : c.fragments) EXPECT_NE(msg.find(f), std::string::npos) << c.source << " -> " << msg;
  }
}

TEST(ChatTemplate, UnknownFilterInsideIfFailsOnlyWhenReached) {
  // jinja2 defers unknown filters/tests under an if to run time.
  Result<std::string> skipped = RenderSource("{% if false %}{{ x | nope }}{% endif %}ok");
  ASSERT_TRUE(skipped.ok()) << skipped.status().message();
  EXPECT_EQ(*skipped, "ok");
  EXPECT_NE(ErrorOf("{% if true %}{{ x | nope }}{% endif %}").find("unknown filter 'nope'"), std::string::npos);
}

TEST(ChatTemplate, RuntimeErrorsNamePosition) {
  EXPECT_NE(ErrorOf("{{ nope.attr }}").find("line 1:8: 'nope' is undefined"), std::string::npos);
  EXPECT_NE(ErrorOf("{{ messages[0].nope.x }}").find("has no attribute 'nope'"), std::string::npos);
  EXPECT_NE(ErrorOf("\n{{ 1 / 0 }}").find("line 2:"), std::string::npos);
  EXPECT_NE(ErrorOf("{{ 'a' + 1 }}").find("unsupported operand"), std::string::npos);
  EXPECT_NE(ErrorOf("{{ messages.append(1) }}").find("unsafe"), std::string::npos);
  EXPECT_NE(ErrorOf("{{ nope() }}").find("'nope' is undefined"), std::string::npos);
  EXPECT_NE(ErrorOf("{% for a, b in [[1, 2, 3]] %}{% endfor %}").find("too many values to unpack"), std::string::npos);
  EXPECT_NE(ErrorOf("{% set x = 1 %}{% set x.y = 2 %}").find("not a namespace"), std::string::npos);
}

// ---- limits: every bound is an error, never a crash or a hang ----

TEST(ChatTemplateLimits, DeepNestingIsAParseError) {
  const std::string parens = std::string(5000, '(') + "1" + std::string(5000, ')');
  EXPECT_NE(ErrorOf("{{ " + parens + " }}").find("nests deeper"), std::string::npos);
  std::string chain = "{{ x";
  for (int i = 0; i < 5000; ++i) chain += ".a";
  EXPECT_NE(ErrorOf(chain + " }}").find("nests deeper"), std::string::npos);
  std::string plus = "{{ 1";
  for (int i = 0; i < 5000; ++i) plus += " + 1";
  EXPECT_NE(ErrorOf(plus + " }}").find("nests deeper"), std::string::npos);
  std::string ifs;
  for (int i = 0; i < 1000; ++i) ifs += "{% if true %}";
  EXPECT_NE(ErrorOf(ifs).find("deeper than 200 levels"), std::string::npos);
  EXPECT_NE(ErrorOf("{{ " + std::string(5000, '-') + "1 }}").find("nests deeper"), std::string::npos);
  EXPECT_NE(ErrorOf("{{ " + std::string(3000, '[') + std::string(3000, ']') + " }}").find("nests deeper"),
            std::string::npos);
}

TEST(ChatTemplateLimits, HugeLoopsHitTheStepBudget) {
  ChatRenderOptions o = FixedClock();
  o.limits.max_steps = 100000;
  EXPECT_NE(ErrorOf("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", o)
                .find("budget of 100000 steps"),
            std::string::npos);
  EXPECT_NE(ErrorOf("{{ range(1000000) | length }}").find("Range too big"), std::string::npos);
}

TEST(ChatTemplateLimits, ComparingBigValuesCountsAsWork) {
  ChatRenderOptions o = FixedClock();
  o.limits.max_steps = 1000000;
  const std::string setup = "{% set a = [[1] * 1000] * 1000 %}{% set b = [[1] * 1000] * 1000 %}";
  EXPECT_NE(ErrorOf(setup + "{% for i in range(100000) %}{% if a == b %}{% endif %}{% endfor %}", o).find("steps"),
            std::string::npos);
  EXPECT_NE(ErrorOf(setup + "{% for i in range(100000) %}{% if a in [b, b] %}{% endif %}{% endfor %}", o).find("steps"),
            std::string::npos);
  EXPECT_NE(ErrorOf(setup + "{% for i in range(100000) %}{{ [a, b] | sort | length }}{% endfor %}", o).find("steps"),
            std::string::npos);
}

TEST(ChatTemplateLimits, OutputAndStringSizeAreCapped) {
  ChatRenderOptions o = FixedClock();
  o.limits.max_output_bytes = 1 << 20;
  EXPECT_NE(
      ErrorOf("{% for i in range(10000) %}{{ 'x' * 1000 }}{% endfor %}", o).find("exceeds the 1048576-byte limit"),
      std::string::npos);
  EXPECT_NE(ErrorOf("{{ 'x' * 1000000000000 }}", o).find("exceeds"), std::string::npos);
  EXPECT_NE(ErrorOf("{% set s = 'x' * 100000 %}{{ [s] * 100000 }}", o).find("exceeds"), std::string::npos);
  EXPECT_NE(
      ErrorOf("{% set ns = namespace(s='ab') %}{% for i in range(60) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}", o)
          .find("exceeds"),
      std::string::npos);
}

TEST(ChatTemplateLimits, RecursionAndDeepValuesAreBounded) {
  EXPECT_NE(ErrorOf("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}").find("nesting exceeds"),
            std::string::npos);
  EXPECT_NE(ErrorOf("{% set ns = namespace(l=[]) %}{% for i in range(5000) %}{% set ns.l = [ns.l] %}{% endfor %}")
                .find("nests deeper"),
            std::string::npos);
  EXPECT_NE(
      ErrorOf("{% set ns = namespace(g=[1]) %}{% for i in range(5000) %}{% set ns.g = ns.g | select %}{% endfor %}")
          .find("nests deeper"),
      std::string::npos);
  // A namespace holding itself prints without unbounded recursion.
  Result<std::string> self = RenderSource("{% set ns = namespace() %}{% set ns.me = ns %}{{ ns }}");
  ASSERT_TRUE(self.ok()) << self.status().message();
  EXPECT_NE(self->find("..."), std::string::npos);
}

}  // namespace
}  // namespace flashstream
