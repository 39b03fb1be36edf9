// toy_translation: what the program shows while it works: the progress line redrawn on a
// terminal, and the number formats of its messages.
#ifndef TOY_TRANSLATION_REPORTING_HPP
#define TOY_TRANSLATION_REPORTING_HPP

#include <chrono>
#include <string>

namespace toy {

double seconds_since(std::chrono::steady_clock::time_point t0);
/// "1:05" or "1:02:03"; "--:--" for a negative or unknown duration.
std::string format_duration(double seconds);
/// "812", "16.2k", "1.25M".
std::string format_rate(double per_second);
/// `v` with `digits` digits after the point.
std::string fixed(double v, int digits);
/// Shortest decimal that reads back as the same double (to_chars), for values saved in checkpoints.
std::string exact_decimal(double v);
/// "[#####.....]": `fraction` of `width` characters filled.
std::string bar(double fraction, int width);

/// Progress display: a status line redrawn in place on a terminal (stderr), permanent lines
/// otherwise.
class Progress {
 public:
  explicit Progress(bool tty) : tty_(tty) {}
  bool tty() const { return tty_; }
  /// The transient status line (terminal only), redrawn at most 10 times a second.
  void status(const std::string& text, bool force = false);
  /// A permanent line (stderr), clearing the status line first.
  void line(const std::string& text);

 private:
  bool tty_;
  bool shown_ = false;
  std::chrono::steady_clock::time_point last_{};
};

}  // namespace toy

#endif  // TOY_TRANSLATION_REPORTING_HPP
