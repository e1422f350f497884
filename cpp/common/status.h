// Status and Result: how the C++14 core reports failure without exceptions.
// Every error carries a stable code string (the same one JS sees as
// CamwireError.code) and a human message.
#pragma once

#include <string>
#include <utility>

namespace camwire {

class Status {
 public:
  Status() = default;  // OK
  static Status Ok() { return Status(); }
  static Status Error(std::string code, std::string message) { return Status(std::move(code), std::move(message)); }

  bool ok() const { return code_.empty(); }
  const std::string& code() const { return code_; }
  const std::string& message() const { return message_; }
  // "CODE: message", or "OK".
  std::string ToString() const;

 private:
  Status(std::string code, std::string message) : code_(std::move(code)), message_(std::move(message)) {}
  std::string code_;
  std::string message_;
};

// A value or a Status. C++14 has no std::optional/variant, so this holds both;
// value() on an error is a programming mistake and aborts.
template <typename T>
class Result {
 public:
  Result(T value) : value_(std::move(value)) {}         // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {  // NOLINT
    if (status_.ok()) status_ = Status::Error("INTERNAL", "Result built from an OK status without a value");
  }

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  const T& value() const& {
    CheckOk();
    return value_;
  }
  T& value() & {
    CheckOk();
    return value_;
  }
  T&& value() && {
    CheckOk();
    return std::move(value_);
  }

 private:
  void CheckOk() const;
  Status status_;
  T value_{};
};

[[noreturn]] void AbortOnBadResultAccess(const Status& status);

template <typename T>
void Result<T>::CheckOk() const {
  if (!status_.ok()) AbortOnBadResultAccess(status_);
}

}  // namespace camwire
