// StopChecker: stop strings across deltas, hold-back and flush, include_stop_str_in_output, the
// earliest of several stops, text after a stop dropped, multi-byte stops, valid UTF-8 throughout.
#include <gtest/gtest.h>

#include <random>

#include "engine/stop_checker.h"

namespace ds {
namespace {

// Minimal strict UTF-8 check (structure and shortest form), independent of the tokenizer's.
bool valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const auto b = static_cast<unsigned char>(s[i]);
    const size_t n = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xE ? 3 : (b >> 3) == 0x1E ? 4 : 0;
    if (n == 0 || i + n > s.size() || (n == 2 && b < 0xC2)) return false;
    for (size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    i += n;
  }
  return true;
}

struct StreamResult {
  std::vector<std::string> emits;
  std::string text;  // all emits (+ flush when not stopped)
  bool stopped = false;
  std::string matched;
};

StreamResult run(StopChecker& sc, const std::vector<std::string>& deltas) {
  StreamResult r;
  for (const std::string& d : deltas) {
    StopChecker::Step s = sc.push(d);
    EXPECT_TRUE(valid_utf8(s.emit)) << "invalid UTF-8 emitted: " << s.emit;
    r.emits.push_back(s.emit);
    r.text += s.emit;
    if (s.stopped) {
      r.stopped = true;
      r.matched = s.matched;
      break;
    }
  }
  if (!r.stopped) r.text += sc.flush();
  return r;
}

TEST(StopCheckerTest, StopSplitAcrossDeltas) {
  StopChecker sc({"lo w"}, false);
  const StreamResult r = run(sc, {"Hel", "lo wor", "ld"});
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.matched, "lo w");
  EXPECT_EQ(r.text, "Hel");
  EXPECT_EQ(r.emits, (std::vector<std::string>{"He", "l"}));  // "l" was held: it could start "lo w"
}

TEST(StopCheckerTest, PartialMatchHeldThenReleasedByFlush) {
  StopChecker sc({"STOP"}, false);
  EXPECT_EQ(sc.push("abc ST").emit, "abc ");
  EXPECT_EQ(sc.push("O").emit, "");
  const StopChecker::Step s = sc.push("P?");  // "STOP?" would match; "STOx" must not
  EXPECT_TRUE(s.stopped);
  EXPECT_EQ(s.emit, "");

  StopChecker sc2({"STOP"}, false);
  EXPECT_EQ(sc2.push("abc STO").emit, "abc ");
  EXPECT_EQ(sc2.flush(), "STO");
  StopChecker sc3({"STOP"}, false);
  EXPECT_EQ(sc3.push("abc STO").emit, "abc ");
  EXPECT_EQ(sc3.push("x").emit, "STOx");  // not a stop after all: released on the next delta
}

TEST(StopCheckerTest, IncludeStopStringInOutput) {
  StopChecker sc({"</s>"}, true);
  const StreamResult r = run(sc, {"answer", "</", "s> trailing"});
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.text, "answer</s>");
}

TEST(StopCheckerTest, EarliestOfSeveralStopsWins) {
  StopChecker sc({"world", "o"}, false);
  StreamResult r = run(sc, {"hello world"});
  EXPECT_EQ(r.matched, "o");
  EXPECT_EQ(r.text, "hell");
  StopChecker sc2({"zz", "b", "ab"}, true);  // "ab" starts first although listed last
  r = run(sc2, {"xxab zz"});
  EXPECT_EQ(r.matched, "ab");
  EXPECT_EQ(r.text, "xxab");
}

TEST(StopCheckerTest, TextAfterTheStopInTheSameDeltaIsDropped) {
  StopChecker sc({"\n\n"}, false);
  StreamResult r = run(sc, {"para one", "\n\nNext paragraph", "more"});
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.text, "para one");
  EXPECT_EQ(r.emits.size(), 2u);  // nothing pushed after the stop was looked at
  EXPECT_TRUE(sc.push("again").stopped);
  EXPECT_EQ(sc.push("again").emit, "");
  EXPECT_EQ(sc.flush(), "");
}

TEST(StopCheckerTest, NoStopsPassesEverythingThrough) {
  StopChecker sc({}, false);
  EXPECT_EQ(sc.push("anything").emit, "anything");
  EXPECT_EQ(sc.flush(), "");
}

TEST(StopCheckerTest, CjkAndEmojiStops) {
  StopChecker sc({"结束了", "🛑🛑"}, false);
  StreamResult r = run(sc, {"你好", "，结", "束", "了吗"});
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.matched, "结束了");
  EXPECT_EQ(r.text, "你好，");

  StopChecker sc2({"结束了", "🛑🛑"}, true);
  r = run(sc2, {"ok 🛑", "🙂 then 🛑", "🛑 gone"});
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.text, "ok 🛑🙂 then 🛑🛑");

  StopChecker sc3({"结束了"}, false);  // shares the lead bytes of 结 with 给 (U+7ED9 vs U+7ED3)
  r = run(sc3, {"结束", "给"});
  EXPECT_FALSE(r.stopped);
  EXPECT_EQ(r.text, "结束给");
}

TEST(StopCheckerTest, IncompleteUtf8AtTheEndOfADeltaIsHeld) {
  StopChecker sc({"x"}, false);
  const std::string smile = "🙂";  // 4 bytes
  EXPECT_EQ(sc.push(smile.substr(0, 2)).emit, "");
  EXPECT_EQ(sc.push(smile.substr(2) + "a").emit, smile + "a");
}

// Random texts over ASCII, CJK and emoji, cut into random deltas (also mid-character), with one stop
// string: the output is the text before the first occurrence (plus the stop when included), every
// emit is valid UTF-8 at character boundaries, and no emit ever shows the stop string early.
TEST(StopCheckerTest, RandomSplitsAgreeWithFind) {
  const std::vector<std::string> alphabet = {"a", "b", " ", "结", "束", "了", "🛑", "é"};
  const std::vector<std::string> stops = {"结束了", "a🛑", "ab b", "é结"};
  std::mt19937 g(17);
  for (int trial = 0; trial < 2000; ++trial) {
    std::string text;
    const int len = 1 + g() % 30;
    for (int i = 0; i < len; ++i) text += alphabet[g() % alphabet.size()];
    const std::string& stop = stops[g() % stops.size()];
    const bool include = g() % 2;
    std::vector<std::string> deltas;
    for (size_t i = 0; i < text.size();) {
      const size_t n = std::min<size_t>(1 + g() % 6, text.size() - i);
      deltas.push_back(text.substr(i, n));
      i += n;
    }
    StopChecker sc({stop}, include);
    std::string out;
    bool stopped = false;
    for (const std::string& d : deltas) {
      const StopChecker::Step s = sc.push(d);
      out += s.emit;
      stopped = s.stopped;
      if (stopped) break;
      ASSERT_TRUE(valid_utf8(out)) << "emitted a split character; text=" << text;
      ASSERT_EQ(out.find(stop), std::string::npos);
    }
    if (!stopped) out += sc.flush();
    const size_t pos = text.find(stop);
    const std::string want = pos == std::string::npos ? text : text.substr(0, pos + (include ? stop.size() : 0));
    ASSERT_EQ(out, want) << "text=" << text << " stop=" << stop;
    ASSERT_EQ(stopped, pos != std::string::npos);
  }
}

}  // namespace
}  // namespace ds
