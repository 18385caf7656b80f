// The pf.conf lexer: turns text into tokens the way pfctl's does, so that
// rulesets split into the same words (`10.0.0.0`, `/`, `8`; `8000:8010` as one
// word; `<=`, `><`, `!=` as operators), with `$macro` expansion at token start,
// backslash-newline continuation, `#` comments and newline tokens (statements
// are line based).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hapf::pf {

enum class TokKind : uint8_t {
  kEof,
  kNewline,
  kWord,    // unquoted word (keywords are words)
  kQuoted,  // "..." or '...'
  kNumber,  // unquoted all-digit word (optionally with a leading '-')
  kPunct,   // one of { } ( ) , ! < > = / - + and the two-char operators
  kError,   // a lexical error was reported; the statement is abandoned
};

struct Token {
  TokKind kind = TokKind::kEof;
  std::string text;   // word / string contents / operator text
  int64_t number = 0; // kNumber
  int line = 0;

  bool Is(std::string_view punct) const { return kind == TokKind::kPunct && text == punct; }
  bool IsWord(std::string_view w) const { return kind == TokKind::kWord && text == w; }
  // A "string" in pfctl's grammar: a word or a quoted string.
  bool IsString() const { return kind == TokKind::kWord || kind == TokKind::kQuoted; }
};

class Lexer {
 public:
  // Looks up a macro; returns nullopt if undefined.
  using MacroLookup = std::function<std::optional<std::string>(const std::string&)>;
  // Reports an error at a line.
  using ErrorSink = std::function<void(int line, const std::string&)>;

  Lexer(std::string text, MacroLookup macros, ErrorSink errors);

  Token Next();
  int line() const { return line_; }
  // Skips input up to and including the next newline (error recovery).
  void SkipToEol();

  static constexpr size_t kMaxString = 8192;        // pfctl's token buffer
  static constexpr size_t kMaxExpansion = 1 << 20;  // bytes of macro text expanded per input

 private:
  int Get();
  void Unget(int c);
  int PeekRaw();

  std::string text_;
  size_t pos_ = 0;
  // Characters pushed back or produced by macro expansion, consumed LIFO.
  std::vector<int> pushback_;
  size_t expanded_bytes_ = 0;
  int expanding_ = 0;  // inside macro text (markers seen but not yet left)
  bool pending_newline_ = false;  // after an error: the skipped line's newline
  Token Fail(int line);
  int line_ = 1;
  MacroLookup macros_;
  ErrorSink errors_;
};

}  // namespace hapf::pf
