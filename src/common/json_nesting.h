#pragma once
// A guard for JSON from outside (request bodies, prompt files): how deeply its arrays and objects
// nest, read from the text before it is parsed. nlohmann's parser itself is iterative, but copying,
// dumping and every converter over a parsed value (the chat template's, the request parser's)
// recurse once per level, so a body of 200,000 '[' would overflow the stack of the thread that
// handles it. Callers reject texts deeper than kMaxJsonNesting with a 400 / a one-line error.
#include <string>
#include <string_view>

namespace ds {

// Far beyond any real request (a tool's JSON schema nests a dozen levels), far within the stack.
constexpr int kMaxJsonNesting = 128;

// True when no array/object in `text` is nested more than max_depth deep (brackets inside strings,
// escaped quotes included, do not count). Malformed text is left to the parser: only depth is judged.
bool json_nesting_within(std::string_view text, int max_depth = kMaxJsonNesting);
// The error text for a rejected text: "JSON nested deeper than 128 levels".
std::string json_nesting_error();

}  // namespace ds
