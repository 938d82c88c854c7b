// Typed op parameters parsed from the strings MXNet's JSON stores ("(3, 3)", "True", "64", "max").
//
//   struct PoolingParam {
//     cn::Shape kernel; int pool_type; bool global_pool;
//     static void Declare(cn::ParamDecl<PoolingParam>& d) {
//       d.field("kernel", &PoolingParam::kernel, cn::Shape{}, "Pooling kernel size: (y, x).");
//       d.choice("pool_type", &PoolingParam::pool_type, {"max", "avg", "sum"}, "max", "Reduction.");
//       d.field("global_pool", &PoolingParam::global_pool, false, "Pool over the whole map.");
//     }
//   };
// `d.field(...).required()` declares a field with no default that must be given.
// Bounds are declared once and enforced by the parser for built-in and plugin ops alike:
//   d.field("eps", &P::eps, 1e-3, "...").above(0);        // finite and > 0
//   d.field("momentum", &P::momentum, 0.9f, "...").range(0, 1);
//   d.field("stride", &P::stride, cn::Shape{}, "...").at_least(1);  // every tuple entry >= 1
//   d.field("slope", &P::slope, 0.25f, "...").finite();   // rejects NaN and +-inf
// `int` fields additionally reject values outside int32 instead of truncating them.
#ifndef COARSENET_PARAMS_H_
#define COARSENET_PARAMS_H_

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "coarsenet/tensor.h"

namespace cn CN_HIDDEN {

namespace parse {

inline std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\n\r"), e = s.find_last_not_of(" \t\n\r");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

inline bool ParseBool(const std::string& raw) {
  std::string s = Trim(raw);
  if (s == "True" || s == "true" || s == "1") return true;
  if (s == "False" || s == "false" || s == "0") return false;
  throw Error(Msg("expected a boolean (True/False/1/0), found '", raw, "'"));
}

inline int64_t ParseInt(const std::string& raw) {
  std::string s = Trim(raw);
  if (!s.empty() && (s.back() == 'L' || s.back() == 'l')) s.pop_back();  // Python 2 longs
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0' || errno == ERANGE)
    throw Error(Msg("expected an integer, found '", raw, "'"));
  return v;
}

// The int64 parse, rejected when it does not fit an `int` field (never silently truncated).
inline int ParseInt32(const std::string& raw) {
  int64_t v = ParseInt(raw);
  if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max())
    throw Error(Msg("expected a 32-bit integer in [", std::numeric_limits<int32_t>::min(), ", ",
                    std::numeric_limits<int32_t>::max(), "], found '", raw, "'"));
  return static_cast<int>(v);
}

inline double ParseFloat(const std::string& raw) {
  std::string s = Trim(raw);
  errno = 0;
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (s.empty() || *end != '\0') throw Error(Msg("expected a number, found '", raw, "'"));
  return v;
}

// "(3, 3)", "[3,3]", "(5,)", "3", "()" -> dims; "None" -> unknown shape (ndim -1).
inline Shape ParseShape(const std::string& raw) {
  std::string s = Trim(raw);
  Shape out;
  if (s == "None" || s.empty()) return out;
  if (s.front() == '(' || s.front() == '[') {
    char close = s.front() == '(' ? ')' : ']';
    if (s.back() != close) throw Error(Msg("expected a tuple like (3, 3), found '", raw, "'"));
    s = s.substr(1, s.size() - 2);
  }
  std::vector<int64_t> dims;
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t comma = s.find(',', pos);
    std::string item = Trim(s.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos));
    if (!item.empty()) {
      if (item == "None") item = "-1";
      try {
        dims.push_back(ParseInt(item));
      } catch (const Error&) {
        throw Error(Msg("expected a tuple of integers like (3, 3), found '", raw, "'"));
      }
    } else if (comma != std::string::npos && !(comma + 1 >= s.size() && !dims.empty())) {
      throw Error(Msg("expected a tuple of integers like (3, 3), found '", raw, "'"));
    }
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  out.assign(dims.begin(), dims.end());
  return out;
}

// "(None, 1, -2)" -> {nullopt, 1, -2}: tuples whose entries may be None (slice's begin/end/step,
// where None means "the default for this axis", distinct from the index -1).
inline std::vector<std::optional<int64_t>> ParseOptionalTuple(const std::string& raw) {
  std::string s = Trim(raw);
  std::vector<std::optional<int64_t>> out;
  if (s.empty() || s == "None") return out;
  if (s.front() == '(' || s.front() == '[') {
    char close = s.front() == '(' ? ')' : ']';
    if (s.back() != close) throw Error(Msg("expected a tuple like (0, None), found '", raw, "'"));
    s = s.substr(1, s.size() - 2);
  }
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t comma = s.find(',', pos);
    size_t len = comma == std::string::npos ? std::string::npos : comma - pos;
    std::string item = Trim(s.substr(pos, len));
    if (item == "None") {
      out.push_back(std::nullopt);
    } else if (!item.empty()) {
      try {
        out.push_back(ParseInt(item));
      } catch (const Error&) {
        throw Error(Msg("expected a tuple of integers or None like (0, None), found '", raw, "'"));
      }
    } else if (comma != std::string::npos && !(comma + 1 >= s.size() && !out.empty())) {
      throw Error(Msg("expected a tuple of integers or None like (0, None), found '", raw, "'"));
    }
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return out;
}

inline std::string FormatFloat(double v) {
  std::ostringstream os;
  os.precision(std::numeric_limits<double>::max_digits10);
  os << v;
  std::string s = os.str();
  // Shortest form that round-trips through float is enough for docs; keep MXNet's look.
  std::ostringstream shortest;
  shortest << static_cast<float>(v);
  return static_cast<double>(static_cast<float>(ParseFloat(shortest.str()))) ==
                 static_cast<double>(static_cast<float>(v))
             ? shortest.str()
             : s;
}

}  // namespace parse

// Declared bounds of one numeric field (each entry for tuples), checked after parsing.
struct FieldBounds {
  double lo = -std::numeric_limits<double>::infinity();
  double hi = std::numeric_limits<double>::infinity();
  bool lo_open = false;  // lo itself is excluded (eps > 0)
  bool finite = false;   // NaN and +-inf are rejected (floats)
  bool no_nan = false;   // NaN is rejected, +-inf allowed (clip bounds)
  bool any() const { return finite || no_nan || lo > -hi_inf() || hi < hi_inf() || lo_open; }
  static double hi_inf() { return std::numeric_limits<double>::infinity(); }

  std::string Describe() const {
    std::string s = lo_open ? "(" : "[";
    s += lo == -hi_inf() ? std::string("-inf") : parse::FormatFloat(lo);
    s += ", ";
    s += hi == hi_inf() ? std::string("inf") : parse::FormatFloat(hi);
    return s + "]";
  }
  void Check(double v) const {
    if (finite && !std::isfinite(v)) throw Error(Msg("expected a finite number, found ", v));
    bool ok = (lo_open ? v > lo : v >= lo) && v <= hi;  // NaN fails here too
    if (!ok) throw Error(Msg("expected a value in ", Describe(), ", found ", v));
  }
  // Integers compare exactly: doubles cannot hold every int64, so only bounds go through double.
  void Check(int64_t v) const {
    bool ok = (lo_open ? static_cast<long double>(v) > lo : static_cast<long double>(v) >= lo) &&
              static_cast<long double>(v) <= hi;
    if (!ok) throw Error(Msg("expected a value in ", Describe(), ", found ", v));
  }
};

namespace bounds {
template <typename T>
void CheckValue(const FieldBounds& b, const T& v) {
  if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
    b.Check(static_cast<double>(v));
  } else if constexpr (std::is_same_v<T, int> || std::is_same_v<T, int64_t>) {
    b.Check(static_cast<int64_t>(v));
  } else if constexpr (std::is_same_v<T, Shape>) {
    for (int i = 0; i < v.ndim; ++i) b.Check(static_cast<int64_t>(v[i]));
  } else if constexpr (std::is_same_v<T, std::optional<double>> ||
                       std::is_same_v<T, std::optional<int64_t>>) {
    if (v) CheckValue(b, *v);
  } else if constexpr (std::is_same_v<T, std::vector<std::optional<int64_t>>>) {
    for (auto& e : v)
      if (e) b.Check(*e);
  }
  // bool and string fields have no numeric bounds.
}
}  // namespace bounds

// One declared parameter: how to parse it, how to reset it to its default, and its doc.
template <typename P>
struct FieldDecl {
  std::string name, type_name, default_str, doc;
  bool required = false;
  std::function<void(P&, const std::string&)> parse;
  std::function<void(P&)> set_default;
  FieldBounds bounds;
  std::function<void(const P&, const FieldBounds&)> check;  // throws when out of bounds
};

template <typename P>
class ParamDecl {
 public:
  ParamDecl& field(const char* name, int P::*member, int def, const char* doc) {
    return Add(name, "int", std::to_string(def), doc, member, def,
        parse::ParseInt32);
  }
  ParamDecl& field(const char* name, int64_t P::*member, int64_t def, const char* doc) {
    return Add(name, "long", std::to_string(def), doc, member, def, parse::ParseInt);
  }
  ParamDecl& field(const char* name, float P::*member, float def, const char* doc) {
    return Add(name, "float", parse::FormatFloat(def), doc, member, def,
        [](const std::string& s) {
          double v = parse::ParseFloat(s);
          // Beyond float's range is +-inf (the float conversion itself would be undefined).
          if (std::isfinite(v) && std::fabs(v) > std::numeric_limits<float>::max())
            return v > 0 ? std::numeric_limits<float>::infinity()
                         : -std::numeric_limits<float>::infinity();
          return static_cast<float>(v);
        });
  }
  ParamDecl& field(const char* name, double P::*member, double def, const char* doc) {
    return Add(name, "double", parse::FormatFloat(def), doc, member, def, parse::ParseFloat);
  }
  ParamDecl& field(const char* name, bool P::*member, bool def, const char* doc) {
    return Add(name, "boolean", def ? "True" : "False", doc, member, def, parse::ParseBool);
  }
  ParamDecl& field(const char* name, Shape P::*member, Shape def, const char* doc) {
    return Add(name, "Shape(tuple)", def.known() ? def.str() : "None", doc, member, def, parse::ParseShape);
  }
  ParamDecl& field(const char* name, std::string P::*member, std::string def, const char* doc) {
    return Add(name, "string", def, doc, member, def, [](const std::string& s) { return s; });
  }
  // An optional number: "None" (the default) leaves it empty.
  ParamDecl& field(const char* name, std::optional<double> P::*member, const char* doc) {
    return Add(name, "double or None", "None", doc, member, std::optional<double>(),
        [](const std::string& s) -> std::optional<double> {
          if (parse::Trim(s) == "None") return std::nullopt;
          return parse::ParseFloat(s);
        });
  }
  // An optional integer: "None" leaves it empty (slice_axis's end, repeat's axis).
  ParamDecl& field(const char* name, std::optional<int64_t> P::*member, const char* doc) {
    return Add(name, "int or None", "None", doc, member, std::optional<int64_t>(),
        [](const std::string& s) -> std::optional<int64_t> {
          if (parse::Trim(s) == "None") return std::nullopt;
          return parse::ParseInt(s);
        });
  }
  // An optional integer with a default (topk's axis=-1): "None" still leaves it empty.
  ParamDecl& field(const char* name, std::optional<int64_t> P::*member, int64_t def,
                   const char* doc) {
    return Add(name, "int or None", std::to_string(def), doc, member, std::optional<int64_t>(def),
        [](const std::string& s) -> std::optional<int64_t> {
          if (parse::Trim(s) == "None") return std::nullopt;
          return parse::ParseInt(s);
        });
  }
  // A tuple whose entries may be None; the default is the empty tuple ().
  ParamDecl& field(const char* name, std::vector<std::optional<int64_t>> P::*member,
                   const char* doc) {
    return Add(name, "Shape(tuple)", "()", doc, member, std::vector<std::optional<int64_t>>(),
               parse::ParseOptionalTuple);
  }
  // A string restricted to `choices`, stored as its index so kernels switch on an enum.
  ParamDecl& choice(const char* name, int P::*member, std::vector<std::string> choices, const std::string& def,
              const char* doc) {
    std::string type = "{";
    for (size_t i = 0; i < choices.size(); ++i) type += (i ? ", '" : "'") + choices[i] + "'";
    type += "}";
    int def_index = -1;
    for (size_t i = 0; i < choices.size(); ++i)
      if (choices[i] == def) def_index = static_cast<int>(i);
    if (def_index < 0) throw Error(Msg("default '", def, "' of ", name, " is not among ", type));
    return Add(name, type, def, doc, member, def_index, [choices, type](const std::string& raw) {
      std::string s = parse::Trim(raw);
      if (s.size() >= 2 && (s.front() == '\'' || s.front() == '"')) s = s.substr(1, s.size() - 2);
      for (size_t i = 0; i < choices.size(); ++i)
        if (choices[i] == s) return static_cast<int>(i);
      throw Error(Msg("expected one of ", type, ", found '", raw, "'"));
    });
  }
  // Marks the last declared field as having no default: parsing fails when it is missing.
  ParamDecl& required() {
    fields_.back().required = true;
    fields_.back().default_str.clear();
    return *this;
  }

  // Bounds of the last declared field; numbers and every entry of a tuple must lie inside.
  // range() and above() also require finite values; the doc string states the bounds.
  ParamDecl& range(double lo, double hi) { return Bound(lo, hi, false, true); }
  ParamDecl& at_least(double lo) {
    return Bound(lo, std::numeric_limits<double>::infinity(), false, true);
  }
  ParamDecl& above(double lo) {
    return Bound(lo, std::numeric_limits<double>::infinity(), true, true);
  }
  ParamDecl& finite() {
    fields_.back().bounds.finite = true;
    return Document();
  }
  ParamDecl& not_nan() {
    fields_.back().bounds.no_nan = true;
    return Document();
  }

  const std::vector<FieldDecl<P>>& fields() const { return fields_; }

 private:
  ParamDecl& Bound(double lo, double hi, bool lo_open, bool finite) {
    FieldBounds& b = fields_.back().bounds;
    b.lo = lo;
    b.hi = hi;
    b.lo_open = lo_open;
    b.finite = b.finite || finite;
    return Document();
  }
  // Appends the bounds to the doc once ("Valid: [1, inf], finite."): users and fuzzers read them.
  ParamDecl& Document() {
    FieldDecl<P>& f = fields_.back();
    size_t at = f.doc.find(" Valid: ");
    if (at != std::string::npos) f.doc.erase(at);
    bool real = f.type_name.find("float") != std::string::npos ||
                f.type_name.find("double") != std::string::npos;
    f.doc += " Valid: " + f.bounds.Describe() +
             (real && f.bounds.finite ? ", finite." : real && f.bounds.no_nan ? ", not NaN." : ".");
    return *this;
  }

  template <typename T, typename Parser>
  ParamDecl& Add(const char* name, std::string type, std::string def_str, const char* doc, T P::*member,
           T def, Parser parser) {
    FieldDecl<P> f;
    f.name = name;
    f.type_name = std::move(type);
    f.default_str = std::move(def_str);
    f.doc = doc;
    f.parse = [member, parser](P& p, const std::string& s) { p.*member = parser(s); };
    f.set_default = [member, def](P& p) { p.*member = def; };
    f.check = [member](const P& p, const FieldBounds& b) {
      if (b.any()) bounds::CheckValue(b, p.*member);
    };
    fields_.push_back(std::move(f));
    return *this;
  }
  std::vector<FieldDecl<P>> fields_;
};

// A param type with nothing to declare.
struct NoParams {
  static void Declare(ParamDecl<NoParams>&) {}
};

// Parses key/value strings into P, rejecting unknown keys, bad values and missing required ones.
template <typename P>
P ParseParams(const ParamDecl<P>& decl, const std::vector<std::pair<std::string, std::string>>& kv) {
  P p;
  std::vector<bool> seen(decl.fields().size(), false);
  for (auto& f : decl.fields()) f.set_default(p);
  for (auto& [key, value] : kv) {
    size_t i = 0;
    for (; i < decl.fields().size(); ++i)
      if (decl.fields()[i].name == key) break;
    if (i == decl.fields().size()) {
      std::string known;
      for (auto& f : decl.fields()) known += (known.empty() ? "" : ", ") + f.name;
      throw Error(Msg("unknown parameter '", key, "'; expected one of: ",
                      known.empty() ? "(none)" : known));
    }
    try {
      decl.fields()[i].parse(p, value);
    } catch (const Error& e) {
      throw Error(Msg("parameter '", key, "': ", e.what()));
    }
    try {
      decl.fields()[i].check(p, decl.fields()[i].bounds);
    } catch (const Error& e) {
      throw Error(Msg("parameter '", key, "' = '", value, "': ", e.what()));
    }
    seen[i] = true;
  }
  for (size_t i = 0; i < decl.fields().size(); ++i)
    if (decl.fields()[i].required && !seen[i])
      throw Error(Msg("required parameter '", decl.fields()[i].name, "' is missing"));
  return p;
}

}  // namespace cn

#endif  // COARSENET_PARAMS_H_
