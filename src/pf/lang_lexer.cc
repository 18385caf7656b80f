#include "pf/lang_lexer.h"

#include <cctype>

namespace hapf::pf {
namespace {

// Marks the end of a macro's expanded text: '$' is only special outside one.
constexpr int kEndExpand = -2;
constexpr int kStartExpand = -3;
constexpr int kEof = -1;

bool AllowedInWord(int c) {
  if (c < 0 || c > 127) return c > 127;
  if (std::isalnum(c)) return true;
  if (!std::ispunct(c)) return false;
  switch (c) {
    case '(': case ')': case '{': case '}': case '<': case '>':
    case '!': case '=': case '/': case '#': case ',':
      return false;
    default:
      return true;
  }
}

}  // namespace

Lexer::Lexer(std::string text, MacroLookup macros, ErrorSink errors)
    : text_(std::move(text)), macros_(std::move(macros)), errors_(std::move(errors)) {}

int Lexer::PeekRaw() {
  if (!pushback_.empty()) return pushback_.back();
  return pos_ < text_.size() ? static_cast<unsigned char>(text_[pos_]) : kEof;
}

int Lexer::Get() {
  for (;;) {
    int c;
    if (!pushback_.empty()) {
      c = pushback_.back();
      pushback_.pop_back();
      if (c == kEndExpand) {
        --expanding_;
        continue;
      }
      if (c == kStartExpand) {
        ++expanding_;
        continue;
      }
      return c;
    }
    if (pos_ >= text_.size()) return kEof;
    c = static_cast<unsigned char>(text_[pos_++]);
    // Backslash-newline joins lines without leaving a character behind.
    if (c == '\\' && pos_ < text_.size() && text_[pos_] == '\n') {
      ++pos_;
      ++line_;
      continue;
    }
    return c;
  }
}

void Lexer::Unget(int c) {
  if (c != kEof) pushback_.push_back(c);
}

void Lexer::SkipToEol() {
  pushback_.clear();
  for (;;) {
    int c = Get();
    if (c == kEof) return;
    if (c == '\n') {
      ++line_;
      return;
    }
  }
}

// pfctl abandons the rest of a line after a lexical error; the newline is
// still delivered so the parser sees the statement end.
Token Lexer::Fail(int line) {
  Token t;
  t.kind = TokKind::kError;
  t.line = line;
  pushback_.clear();
  expanding_ = 0;
  for (;;) {
    int c = Get();
    if (c == kEof) break;
    if (c == '\n') {
      pending_newline_ = true;
      break;
    }
  }
  return t;
}

Token Lexer::Next() {
  if (pending_newline_) {
    pending_newline_ = false;
    Token nl;
    nl.kind = TokKind::kNewline;
    nl.line = line_;
    ++line_;
    return nl;
  }
top:
  int c = Get();
  while (c == ' ' || c == '\t' || c == '\r') c = Get();
  Token t;
  t.line = line_;
  if (c == '#') {
    while (c != '\n' && c != kEof) c = Get();
  }
  if (c == kEof) {
    t.kind = TokKind::kEof;
    return t;
  }
  if (c == '\n') {
    t.kind = TokKind::kNewline;
    ++line_;
    return t;
  }
  // As in pfctl, a '$' inside expanded macro text is not expanded again.
  if (c == '$' && expanding_ == 0) {
    std::string name;
    for (;;) {
      int d = Get();
      if (d != kEof && d < 128 && (std::isalnum(d) || d == '_')) {
        name.push_back(static_cast<char>(d));
        if (name.size() > kMaxString) {
          errors_(line_, "string too long");
          return Fail(line_);
        }
        continue;
      }
      Unget(d);
      break;
    }
    std::optional<std::string> value = macros_(name);
    if (!value) {
      errors_(line_, "macro '" + name + "' not defined");
      return Fail(line_);
    }
    expanded_bytes_ += value->size();
    if (expanded_bytes_ > kMaxExpansion) {
      errors_(line_, "macro expansion too large");
      return Fail(line_);
    }
    pushback_.push_back(kEndExpand);
    for (size_t i = value->size(); i > 0; --i)
      pushback_.push_back(static_cast<unsigned char>((*value)[i - 1]));
    pushback_.push_back(kStartExpand);
    goto top;
  }
  if (c == '"' || c == '\'') {
    int quote = c;
    std::string s;
    for (;;) {
      int d = Get();
      if (d == kEof) {
        errors_(line_, "unterminated quotes in string");
        return Fail(line_);
      }
      if (d == '\n') {
        ++line_;
        continue;
      }
      if (d == '\\') {
        int e = Get();
        if (e == quote) {
          s.push_back(static_cast<char>(e));
          continue;
        }
        Unget(e);
      } else if (d == quote) {
        break;
      }
      s.push_back(static_cast<char>(d));
      if (s.size() >= kMaxString) {
        errors_(line_, "string too long");
        return Fail(line_);
      }
    }
    t.kind = TokKind::kQuoted;
    t.text = std::move(s);
    return t;
  }
  if (c == '!' || c == '<' || c == '>') {
    int d = Get();
    std::string op(1, static_cast<char>(c));
    if (c == '!' && d == '=') op += '=';
    else if (c == '<' && (d == '>' || d == '=')) op += static_cast<char>(d);
    else if (c == '>' && (d == '<' || d == '=')) op += static_cast<char>(d);
    else Unget(d);
    t.kind = TokKind::kPunct;
    t.text = op;
    return t;
  }
  // Numbers: digits (with an optional '-') that end at a non-word character.
  if (c == '-' || (c < 128 && std::isdigit(c))) {
    std::string digits(1, static_cast<char>(c));
    std::vector<int> read;
    int d = Get();
    while (d != kEof && d < 128 && std::isdigit(d) && digits.size() < 32) {
      digits.push_back(static_cast<char>(d));
      d = Get();
    }
    bool is_number = !(digits == "-") && !AllowedInWord(d) && digits.size() < 19;
    if (is_number) {
      Unget(d);
      t.kind = TokKind::kNumber;
      t.text = digits;
      t.number = std::stoll(digits);
      return t;
    }
    // Not a number: push everything back and lex as a word (or '-').
    Unget(d);
    for (size_t i = digits.size(); i > 1; --i) Unget(static_cast<unsigned char>(digits[i - 1]));
    if (c == '-') {
      t.kind = TokKind::kPunct;
      t.text.assign(1, '-');
      return t;
    }
  }
  if (c < 128 && (std::isalnum(c) || c == ':' || c == '_' || c == '*' || c == '.')) {
    std::string s(1, static_cast<char>(c));
    for (;;) {
      int d = Get();
      if (d == kEof || d == kEndExpand || !AllowedInWord(d)) {
        Unget(d);
        break;
      }
      s.push_back(static_cast<char>(d));
      if (s.size() >= kMaxString) {
        errors_(line_, "string too long");
        return Fail(line_);
      }
    }
    t.kind = TokKind::kWord;
    t.text = std::move(s);
    return t;
  }
  t.kind = TokKind::kPunct;
  t.text = std::string(1, static_cast<char>(c));
  return t;
}

}  // namespace hapf::pf
