// Text helpers for the chat-template interpreter: UTF-8 walking and the few Python string
// behaviours that templates observe (code-point length and slicing, str.isspace, case
// mapping, repr() of str and float). Stateless free functions; thread-safe.
//
// Bytes that are not valid UTF-8 count as one code point each and are copied through
// unchanged. Case mapping covers ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic;
// other scripts are left as they are.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace flashstream::jinja {

// Decodes the code point starting at s[*pos] and advances *pos past it. An invalid or
// truncated sequence yields its first byte as the code point and advances by one byte.
uint32_t NextCodePoint(std::string_view s, size_t* pos);
void AppendUtf8(uint32_t cp, std::string* out);

size_t CodePointCount(std::string_view s);
// Byte offset of every code point start, plus s.size() at the end: size CodePointCount(s)+1.
std::vector<size_t> CodePointOffsets(std::string_view s);

bool IsPySpace(uint32_t cp);  // Python str.isspace() for one code point
bool IsCased(uint32_t cp);    // has an upper- or lower-case form
bool IsUpperCp(uint32_t cp);
bool IsLowerCp(uint32_t cp);

std::string PyUpper(std::string_view s);
std::string PyLower(std::string_view s);
std::string PyTitle(std::string_view s);       // str.title()
std::string PyCapitalize(std::string_view s);  // str.capitalize()

// str.strip/lstrip/rstrip. `chars` == nullptr strips Python whitespace.
std::string_view PyStrip(std::string_view s, const std::string_view* chars, bool left, bool right);

// str.splitlines(keepends): splits at \n, \r, \r\n, \v, \f, \x1c-\x1e, U+0085, U+2028/9.
std::vector<std::string_view> PySplitLines(std::string_view s, bool keepends);

// repr() of a Python str: quotes chosen as Python does, escapes for non-printables.
std::string PyStrRepr(std::string_view s);
// repr() of a Python float: shortest round-trip digits, "1e-05", "1e+16", "1.0", "inf", "nan".
std::string PyFloatRepr(double v);

}  // namespace flashstream::jinja
